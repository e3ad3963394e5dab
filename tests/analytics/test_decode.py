"""Decoding: luma straight from the decoder, truncated clips, files that are not videos."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from analytics.clip import analyze_clip
from analytics.decode import DecodeError, FrameReader, frames, probe

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "video"
SCENE = FIXTURES / "scene.mp4"
TRUNCATED = FIXTURES / "scene_truncated.mp4"


def test_probe() -> None:
    info = probe(SCENE)
    assert (info.width, info.height, info.fps, info.codec) == (480, 270, 15.0, "h264")
    assert info.frame_count_hint == 540
    assert info.duration_s == pytest.approx(36.0)


def test_frames_are_luma_views() -> None:
    seen = 0
    last = -1.0
    for f in frames(SCENE):
        assert f.luma.shape == (270, 480)
        assert f.luma.dtype == np.uint8
        assert f.luma.base is not None  # a view on the decoder's plane, not a converted copy
        assert f.index == seen
        assert f.time_s > last
        last = f.time_s
        seen += 1
    assert seen == 540
    assert last == pytest.approx(539 / 15)


def test_reader_outcome_and_av_frames() -> None:
    with FrameReader(SCENE, threads=1) as reader:
        for pairs, (frame, av_frame) in enumerate(reader.av_frames(), 1):
            assert isinstance(av_frame, av.VideoFrame)
            assert (av_frame.width, av_frame.height) == frame.luma.shape[::-1]
            assert av_frame.pts == frame.pts
            if pairs == 20:
                break
    assert reader.frames_decoded == 20


def test_truncated_clip_decodes_what_it_can() -> None:
    reader = FrameReader(TRUNCATED)
    n = sum(1 for _ in reader)
    assert n == reader.frames_decoded
    assert 0 < n < 540
    assert reader.error is not None
    # the plain iterator stops quietly
    assert sum(1 for _ in frames(TRUNCATED)) == n


@pytest.mark.parametrize("fraction", [0.1, 0.7])
def test_truncated_at_other_points(tmp_path: Path, fraction: float) -> None:
    data = SCENE.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * fraction)])
    report = analyze_clip(cut)
    assert 0 < report.frames < 540
    assert report.error is not None
    assert report.duration_s == pytest.approx(report.frames / 15, abs=0.01)


def test_truncated_report() -> None:
    report = analyze_clip(TRUNCATED)
    assert report.frames > 0
    assert report.error is not None
    assert report.to_json()["error"] == report.error


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("notes.txt", b"minutes of the meeting\n" * 50, "not a video"),
        ("clip.mp4", b"this is not an mp4 at all, just text\n", "not a video"),
        ("noise.mp4", bytes(range(256)) * 20, "not a video"),
        ("empty.mp4", b"", "empty file"),
        ("config.toml", b'[camera]\nname = "lobby"\n', "not a video"),
    ],
)
def test_not_a_video(tmp_path: Path, name: str, content: bytes, fragment: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    for call in (probe, lambda p: FrameReader(p), frames, analyze_clip):
        with pytest.raises(DecodeError, match=fragment) as info:
            call(path)
        assert name in str(info.value)
        assert info.value.path == path


def test_missing_and_directory(tmp_path: Path) -> None:
    with pytest.raises(DecodeError, match=r"missing\.mp4: no such file"):
        probe(tmp_path / "missing.mp4")
    with pytest.raises(DecodeError, match="not a regular file"):
        probe(tmp_path)


def write_clip(path: Path, codec: str, pix_fmt: str, n: int = 5) -> np.ndarray:
    """A tiny clip whose frames are a horizontal ramp; returns the expected luma of frame 0."""
    width, height = 64, 48
    ramp = np.tile(np.linspace(30, 220, width).astype(np.uint8), (height, 1))
    rgb = np.dstack([ramp, ramp, ramp])
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream(codec, rate=10)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return ramp


@pytest.mark.parametrize(
    ("name", "codec", "pix_fmt"),
    [("a.avi", "mjpeg", "yuvj420p"), ("b.mov", "png", "rgb24"), ("c.mkv", "libx264", "yuv444p")],
)
def test_pixel_formats(tmp_path: Path, name: str, codec: str, pix_fmt: str) -> None:
    path = tmp_path / name
    ramp = write_clip(path, codec, pix_fmt)
    got = list(frames(path))
    assert len(got) == 5
    for f in got:
        assert f.luma.shape == (48, 64)
        assert not f.luma.flags.writeable
        # luma of a gray ramp is the ramp (limited-range YUV maps 30..220 to roughly 42..205)
        assert np.corrcoef(f.luma[24].astype(float), ramp[24].astype(float))[0, 1] > 0.99
