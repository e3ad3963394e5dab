"""`vmsbridge motion` and `vmsbridge redact` on the committed synthetic fixtures and on bad input."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import av
import pytest

from tests.conftest import ROOT
from vmsbridge.cli.main import main

SCENE = ROOT / "fixtures" / "video" / "scene.mp4"
TRUNCATED = ROOT / "fixtures" / "video" / "scene_truncated.mp4"


def test_motion_json_and_boxes_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    boxes = tmp_path / "boxes.csv"
    assert main(["motion", str(SCENE), "--json", "--boxes-csv", str(boxes)]) == 0
    report = json.loads(capsys.readouterr().out)
    truth = json.loads(SCENE.with_suffix(".json").read_text())
    assert report["frames"] == truth["frames"]
    assert report["fps"] == pytest.approx(truth["fps"])
    assert report["duration_s"] == pytest.approx(truth["frames"] / truth["fps"], abs=0.2)
    assert all({"start_s", "end_s", "peak_area_ratio"} <= s.keys() for s in report["segments"])
    assert {t["kind"] for t in report["tamper"]} >= {"lights", "covered", "frozen", "moved"}
    with boxes.open() as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["frame", "x", "y", "w", "h"]
    assert len(rows) > 100
    assert all(0 <= int(r[0]) < truth["frames"] for r in rows[1:])


def test_motion_ignore_zone_over_the_whole_frame_leaves_no_motion(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["motion", str(SCENE), "--json", "--mask", "0,0 480,0 480,270 0,270"]) == 0
    assert json.loads(capsys.readouterr().out)["segments"] == []


def test_motion_on_a_truncated_clip_reports_what_decoded(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["motion", str(TRUNCATED), "--json"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert 0 < report["frames"] < 540
    assert report["error"]
    assert str(TRUNCATED) in captured.err


def test_motion_on_a_file_that_is_not_video_names_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notes = tmp_path / "notes.mp4"
    notes.write_text("this is not a video")
    assert main(["motion", str(notes)]) == 1
    assert str(notes) in capsys.readouterr().err


def test_a_bad_polygon_is_a_usage_error_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["motion", str(SCENE), "--mask", "1,2 3"]) == 2
    assert "--mask[0]: '1,2 3'" in capsys.readouterr().err


def test_redact_writes_h264_keeps_frames_and_never_touches_the_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = hashlib.sha256(SCENE.read_bytes()).hexdigest()
    out = tmp_path / "redacted.mp4"
    assert main(["redact", str(SCENE), str(out), "--mask", "0,0 100,0 100,60 0,60", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["source_sha256"] == before == hashlib.sha256(SCENE.read_bytes()).hexdigest()
    assert report["frames_written"] == 540
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.codec_context.pix_fmt) == ("h264", "yuv420p")
        assert (stream.width, stream.height) == (480, 270)
        assert sum(1 for _ in container.decode(stream)) == 540
    assert main(["redact", str(SCENE), str(out)]) == 2  # never overwrite
    assert "exists" in capsys.readouterr().err
    assert main(["redact", str(SCENE), str(SCENE)]) == 2
