"""Accuracy against the synthetic clip's exact ground truth (``fixtures/video/scene.json``).

Matching rule (boxes in original pixels): a ground-truth box and a motion box match when their IoU
is >= 0.3 or the centre of either lies inside the other. Recall = matched ground-truth boxes / all
ground-truth boxes; precision = matched motion boxes / all motion boxes; both over every frame after
the detector's warm-up. Dilation makes motion boxes a few pixels larger than the blobs, and two
walkers crossing give one box holding both centres: the centre rule counts those as found.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from analytics.clip import ClipReport, analyze_clip, write_boxes_csv
from analytics.geometry import parse_pixel_polygon
from analytics.motion import MotionConfig

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "video"
SCENE = FIXTURES / "scene.mp4"

Box = tuple[int, int, int, int]


def iou(a: Box, b: Box) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def centre_inside(a: Box, b: Box) -> bool:
    cx, cy = a[0] + a[2] / 2, a[1] + a[3] / 2
    return b[0] <= cx <= b[0] + b[2] and b[1] <= cy <= b[1] + b[3]


def match(a: Box, b: Box) -> bool:
    return iou(a, b) >= 0.3 or centre_inside(a, b) or centre_inside(b, a)


@pytest.fixture(scope="module")
def truth() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SCENE.with_suffix(".json").read_text())
    return data


@pytest.fixture(scope="module")
def report() -> ClipReport:
    return analyze_clip(SCENE)


def by_frame(report: ClipReport) -> dict[int, list[Box]]:
    out: dict[int, list[Box]] = {}
    for f, x, y, w, h in report.boxes:
        out.setdefault(f, []).append((x, y, w, h))
    return out


def test_box_recall_and_precision(report: ClipReport, truth: dict[str, Any]) -> None:
    pred = by_frame(report)
    warm = MotionConfig().warmup_frames
    gt_total = gt_found = pred_total = pred_ok = 0
    for k, gts in enumerate(truth["boxes"]):
        if k < warm:
            continue
        gt_boxes = [tuple(g) for g in gts]
        ps = pred.get(k, [])
        gt_total += len(gt_boxes)
        gt_found += sum(any(match(g, p) for p in ps) for g in gt_boxes)
        pred_total += len(ps)
        pred_ok += sum(any(match(g, p) for g in gt_boxes) for p in ps)
    assert gt_total > 300
    recall = gt_found / gt_total
    precision = pred_ok / pred_total
    print(
        f"synthetic motion boxes: recall {recall:.3f} ({gt_found}/{gt_total}), "
        f"precision {precision:.3f} ({pred_ok}/{pred_total})"
    )
    assert recall >= 0.95
    assert precision >= 0.90


def test_tamper_kinds(report: ClipReport, truth: dict[str, Any]) -> None:
    expected = [(t["kind"], t["start_s"], t["end_s"]) for t in truth["tamper"]]
    assert {k for k, _, _ in expected} == {"lights", "covered", "defocus", "frozen", "moved"}
    got = [(t.kind, t.start_s, t.end_s) for t in report.tamper]
    assert len(got) == len(expected), got
    for (kind, start, end), (gkind, gstart, gend) in zip(
        sorted(expected, key=lambda e: e[1]), got, strict=True
    ):
        assert gkind == kind
        assert gstart == pytest.approx(start, abs=0.5), kind
        assert gend == pytest.approx(end, abs=0.5), kind


def test_tamper_is_not_motion(report: ClipReport, truth: dict[str, Any]) -> None:
    for t in truth["tamper"]:
        if t["kind"] == "moved":
            # the camera still sees people after it moved: only the shift itself must not be motion
            lo, hi = t["start_s"] - 0.5, t["start_s"] + 1.0
        else:
            lo, hi = t["start_s"] - 0.2, t["end_s"] + 0.2
        for s in report.segments:
            assert s.end_s <= lo or s.start_s >= hi, f"{t['kind']} {lo}..{hi} reported as motion: {s}"
        frames = {f for f, *_ in report.boxes}
        fps = truth["fps"]
        assert not any(lo * fps <= f < hi * fps for f in frames), t["kind"]


def test_segments_cover_the_walkers(report: ClipReport, truth: dict[str, Any]) -> None:
    fps = truth["fps"]
    walking = [k / fps for k, boxes in enumerate(truth["boxes"]) if boxes and k >= 10]
    inside = sum(any(s.start_s <= t < s.end_s for s in report.segments) for t in walking)
    assert inside / len(walking) >= 0.95
    for s in report.segments:
        assert s.end_s - s.start_s >= 0.3
        assert 0.0 < s.peak_area_ratio < 0.1
    assert len(report.timeline) == 36
    assert max(report.timeline) == max(s.peak_area_ratio for s in report.segments)


def test_report_json_and_csv(report: ClipReport, tmp_path: Path) -> None:
    data = report.to_json()
    assert data["frames"] == 540
    assert data["fps"] == 15.0
    assert data["duration_s"] == 36.0
    assert data["error"] is None
    assert set(data["segments"][0]) == {"start_s", "end_s", "peak_area_ratio"}
    assert set(data["tamper"][0]) == {"kind", "start_s", "end_s"}
    assert set(report.stage_fps) == {"decode", "motion", "total"}
    assert all(v > 0 for v in report.stage_fps.values())
    json.dumps(data)
    out = tmp_path / "boxes.csv"
    write_boxes_csv(report, out)
    with out.open() as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["frame", "x", "y", "w", "h"]
    assert len(rows) == len(report.boxes) + 1
    assert [int(v) for v in rows[1]] == list(report.boxes[0])


def test_mask_removes_motion_and_progress(truth: dict[str, Any]) -> None:
    calls: list[tuple[int, int | None]] = []
    left = parse_pixel_polygon("0,0 240,0 240,270 0,270")  # the left half of the 480x270 frame
    masked = analyze_clip(SCENE, masks=[left], progress=lambda n, total: calls.append((n, total)))
    assert masked.boxes
    # nothing is detected wholly inside the mask; walkers on the right are still found
    assert all(x + w > 240 for _, x, _, w, _ in masked.boxes)
    right = sum(1 for boxes in truth["boxes"][10:] for x, _, w, _ in boxes if x > 250)
    seen = sum(1 for _, x, _, _, _ in masked.boxes if x > 250)
    assert seen >= 0.9 * right
    assert calls[-1] == (540, 540)
    assert [n for n, _ in calls] == sorted(n for n, _ in calls)
