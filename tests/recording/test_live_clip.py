"""`record_clip` and `vmsbridge clip record` against GStreamer's RTSP server (an independent peer)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from recording.live import AuthRefused, StreamNotFound, StreamStopped, StreamUnreachable
from recording.record import record_clip
from tests.recording.conftest import FPS, GOP
from tests.recording.rtsp_peer import PASSWORD, USER, GstRtspPeer, slice_hashes
from vmsbridge.cli.main import main


def _is_contiguous_run(part: list[str], whole: list[str]) -> bool:
    """``part`` appears in ``whole`` as one unbroken run (the source's pictures, in order, none missing)."""
    if not part:
        return False
    starts = [i for i, h in enumerate(whole) if h == part[0]]
    return any(whole[i : i + len(part)] == part for i in starts)


def test_clip_holds_the_source_pictures_unchanged_and_lasts_as_asked(
    rtsp_peer: GstRtspPeer, h264_media: Path, tmp_path: Path
) -> None:
    out = tmp_path / "clip.mp4"
    clip = record_clip(rtsp_peer.url("live"), 4.0, out)

    pictures = slice_hashes(out)
    assert _is_contiguous_run(pictures, slice_hashes(h264_media)), "the clip's pictures are not the source's"
    assert clip.reencoded is False
    assert clip.codec == "h264"
    assert (clip.width, clip.height) == (320, 240)
    assert clip.frames == len(pictures)
    assert abs(clip.frames - 4 * FPS) <= GOP, f"{clip.frames} frames for 4 s at {FPS} fps"
    assert abs(clip.seconds - 4.0) <= GOP / FPS
    assert not out.with_name(out.name + ".part").exists()


def test_h265_is_kept_as_h265(rtsp_peer: GstRtspPeer, hevc_media: Path, tmp_path: Path) -> None:
    clip = record_clip(rtsp_peer.url("hevc"), 2.0, tmp_path / "clip.mp4")

    assert clip.codec == "hevc"
    assert _is_contiguous_run(slice_hashes(clip.file), slice_hashes(hevc_media))


def test_digest_credentials_are_answered_and_a_wrong_password_refused(
    rtsp_peer: GstRtspPeer, tmp_path: Path
) -> None:
    good = record_clip(rtsp_peer.url("secure", user=USER, password=PASSWORD), 1.0, tmp_path / "good.mp4")
    assert good.frames > 0

    out = tmp_path / "refused.mp4"
    with pytest.raises(AuthRefused) as refused:
        record_clip(rtsp_peer.url("secure", user=USER, password="not-the-password"), 1.0, out)
    assert "not-the-password" not in str(refused.value), "the password leaked into the message"
    with pytest.raises(AuthRefused):
        record_clip(rtsp_peer.url("secure"), 1.0, out)
    assert list(tmp_path.iterdir()) == [tmp_path / "good.mp4"], "a refused clip left a file behind"


def test_unknown_stream_and_closed_port_are_named(rtsp_peer: GstRtspPeer, tmp_path: Path) -> None:
    with pytest.raises(StreamNotFound, match="no such stream"):
        record_clip(rtsp_peer.url("no-such-mount"), 1.0, tmp_path / "a.mp4")
    rtsp_peer.stop()
    with pytest.raises(StreamUnreachable, match="cannot connect"):
        record_clip(rtsp_peer.url("live"), 1.0, tmp_path / "b.mp4")
    assert list(tmp_path.iterdir()) == []


def test_a_stream_that_stops_leaves_no_file(rtsp_peer: GstRtspPeer, tmp_path: Path) -> None:
    out = tmp_path / "clip.mp4"
    failure: list[BaseException] = []

    def record() -> None:
        try:
            record_clip(rtsp_peer.url("live"), 60.0, out, read_timeout=5.0)
        except BaseException as exc:
            failure.append(exc)

    worker = threading.Thread(target=record)
    worker.start()
    part = out.with_name(out.name + ".part")
    deadline = time.monotonic() + 60
    while not part.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert part.exists(), "recording never started writing (awaited the .part file for 60 s)"
    rtsp_peer.stop()
    worker.join(timeout=60)

    assert not worker.is_alive(), "record_clip did not return within 60 s of the server stopping"
    assert len(failure) == 1, failure
    assert isinstance(failure[0], StreamStopped), failure
    assert "no clip written" in str(failure[0])
    assert list(tmp_path.iterdir()) == [], "a half-written clip was left behind"


def test_cli_prints_the_clip_as_json(
    rtsp_peer: GstRtspPeer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "clip.mp4"
    code = main(["clip", "record", rtsp_peer.url("live"), "--seconds", "2", "--out", str(out), "--json"])

    assert code == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["file"] == str(out)
    assert shown["codec"] == "h264"
    assert shown["reencoded"] is False
    assert set(shown) >= {"sha256", "width", "height", "frames", "start", "end", "seconds", "gaps"}


@pytest.mark.parametrize(
    ("mount", "credentials", "expected"),
    [
        ("secure", (USER, "wrong"), "refused the credentials"),
        ("no-such-mount", None, "no such stream"),
    ],
)
def test_cli_failures_exit_1_with_the_reason_and_no_file(
    rtsp_peer: GstRtspPeer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    mount: str,
    credentials: tuple[str, str] | None,
    expected: str,
) -> None:
    user, password = credentials or (None, None)
    out = tmp_path / "clip.mp4"
    url = rtsp_peer.url(mount, user=user, password=password)

    code = main(["clip", "record", url, "--seconds", "2", "--out", str(out)])

    assert code == 1
    assert expected in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_cli_rejects_a_url_that_is_not_rtsp(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["clip", "record", "http://camera/video", "--seconds", "2", "--out", str(tmp_path / "c.mp4")])

    assert code == 1
    assert "not an RTSP URL" in capsys.readouterr().err
