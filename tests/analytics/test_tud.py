"""Motion boxes on a real street clip (TUD-Stadtmitte, MOTChallenge ground truth).

The clip is shared test data outside the repository (``../shared/data``); the test skips when it is
absent. Video frame k (0-based) is ground-truth frame k + 1. A ground-truth person box counts as
found when it overlaps (positive intersection) any motion box of that frame.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from analytics.clip import analyze_clip

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
CLIP = DATA / "tud-stadtmitte" / "TUD-Stadtmitte.mp4"
GT = DATA / "tud-stadtmitte" / "gt.txt"
WARMUP = 30


def overlaps(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


@pytest.mark.skipif(not CLIP.is_file() or not GT.is_file(), reason=f"shared test clip absent: {CLIP}")
def test_person_boxes_overlap_motion() -> None:
    gt: dict[int, list[tuple[float, float, float, float]]] = {}
    for line in GT.read_text().splitlines():
        f = line.split(",")
        if len(f) < 6:
            continue
        gt.setdefault(int(f[0]) - 1, []).append((float(f[2]), float(f[3]), float(f[4]), float(f[5])))
    report = analyze_clip(CLIP)
    assert report.error is None
    assert report.frames == 179
    assert report.tamper == []
    motion: dict[int, list[tuple[float, float, float, float]]] = {}
    for k, x, y, w, h in report.boxes:
        motion.setdefault(k, []).append((x, y, w, h))
    total = found = 0
    for k, people in gt.items():
        if k < WARMUP:
            continue
        for p in people:
            total += 1
            found += any(overlaps(p, m) for m in motion.get(k, []))
    assert total > 800
    share = found / total
    print(f"TUD-Stadtmitte: {found}/{total} = {share:.3f} of person boxes overlap a motion box")
    assert share >= 0.90
