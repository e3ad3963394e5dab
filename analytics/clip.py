"""Analyze one clip: decode -> motion -> tamper, with per-stage rates measured in the run.

Motion segments are runs of frames with motion (``area_ratio > 0`` and not a global change),
merged across gaps shorter than ``MERGE_GAP_S`` and dropped when shorter than ``MIN_SEGMENT_S``.
Frames the tamper detector sees as covered, defocused or frozen (and the frame where such a state
starts or ends) carry no motion: the picture is not telling anything about the scene, and the
motion background is rebuilt after the change.
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analytics.decode import DecodeError, FrameReader
from analytics.geometry import Polygon
from analytics.motion import MotionConfig, MotionDetector
from analytics.tamper import TamperConfig, TamperDetector, TamperInterval

__all__ = [
    "MERGE_GAP_S",
    "MIN_SEGMENT_S",
    "ClipReport",
    "DecodeError",
    "Segment",
    "TamperInterval",
    "analyze_clip",
    "motion_segments",
    "write_boxes_csv",
]

MERGE_GAP_S = 1.0
MIN_SEGMENT_S = 0.3
PROGRESS_EVERY = 10  # frames between progress callbacks

DEFAULT_MOTION = MotionConfig()
DEFAULT_TAMPER = TamperConfig()
_BLINDING = frozenset({"covered", "defocus", "frozen"})


@dataclass(frozen=True)
class Segment:
    start_s: float
    end_s: float
    peak_area_ratio: float


@dataclass
class ClipReport:
    path: str
    frames: int
    fps: float
    duration_s: float
    width: int
    height: int
    segments: list[Segment]
    tamper: list[TamperInterval]
    boxes: list[tuple[int, int, int, int, int]]  # (frame, x, y, w, h), original pixels
    timeline: list[float]  # per-second max area ratio
    error: str | None  # set if decoding stopped early
    stage_fps: dict[str, float] = field(default_factory=dict)  # decode / motion / total, this run

    def to_json(self, *, include_boxes: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "path": self.path,
            "frames": self.frames,
            "fps": round(self.fps, 3),
            "duration_s": round(self.duration_s, 3),
            "width": self.width,
            "height": self.height,
            "segments": [
                {"start_s": s.start_s, "end_s": s.end_s, "peak_area_ratio": s.peak_area_ratio}
                for s in self.segments
            ],
            "tamper": [{"kind": t.kind, "start_s": t.start_s, "end_s": t.end_s} for t in self.tamper],
            "timeline": self.timeline,
            "box_count": len(self.boxes),
            "error": self.error,
            "stage_fps": {k: round(v, 1) for k, v in self.stage_fps.items()},
        }
        if include_boxes:
            out["boxes"] = [list(b) for b in self.boxes]
        return out


def motion_segments(
    times: Sequence[float],
    areas: Sequence[float],
    frame_s: float,
    *,
    merge_gap_s: float = MERGE_GAP_S,
    min_s: float = MIN_SEGMENT_S,
) -> list[Segment]:
    """Runs of frames with ``area > 0`` -> segments (end exclusive: last moving frame + ``frame_s``)."""
    raw: list[list[float]] = []  # [start, end, peak]
    for t, a in zip(times, areas, strict=True):
        if a <= 0.0:
            continue
        if raw and t - raw[-1][1] < merge_gap_s - 1e-9:
            raw[-1][1] = t + frame_s
            raw[-1][2] = max(raw[-1][2], a)
        else:
            raw.append([t, t + frame_s, a])
    return [Segment(round(s, 3), round(e, 3), round(p, 5)) for s, e, p in raw if e - s >= min_s - 1e-9]


def analyze_clip(
    path: Path,
    *,
    masks: Sequence[Polygon] = (),
    config: MotionConfig = DEFAULT_MOTION,
    progress: Callable[[int, int | None], None] | None = None,
    tamper_config: TamperConfig = DEFAULT_TAMPER,
) -> ClipReport:
    """Run motion and tamper analysis over ``path``.

    Raises :class:`DecodeError` only when nothing decodes (not a video, unsupported codec, no
    frame); a clip that breaks off part-way returns a report with ``error`` set.
    """
    path = Path(path)
    wall0 = time.perf_counter()
    reader = FrameReader(path)
    info = reader.info
    detector = MotionDetector(info.width, info.height, config, masks)
    tamper = TamperDetector(info.fps, tamper_config)
    frame_s = 1.0 / info.fps
    times: list[float] = []
    areas: list[float] = []
    boxes: list[tuple[int, int, int, int, int]] = []
    decode_s = motion_s = 0.0
    prev_kinds: frozenset[str] = frozenset()
    total_hint = info.frame_count_hint
    with reader:
        it = iter(reader)
        while True:
            t0 = time.perf_counter()
            frame = next(it, None)
            t1 = time.perf_counter()
            decode_s += t1 - t0
            if frame is None:
                break
            fm = detector.process(frame.luma)
            kinds = tamper.update(frame.time_s, detector.work_luma, fm)
            blinded = (kinds | prev_kinds) & _BLINDING
            if (kinds ^ prev_kinds) & _BLINDING:
                detector.reset()  # the picture changed character: rebuild the background
            prev_kinds = kinds
            area = 0.0 if blinded or fm.global_change else fm.area_ratio
            times.append(frame.time_s)
            areas.append(area)
            if area > 0.0:
                boxes.extend((frame.index, x, y, w, h) for x, y, w, h in fm.boxes)
            motion_s += time.perf_counter() - t1
            if progress is not None and (frame.index + 1) % PROGRESS_EVERY == 0:
                progress(frame.index + 1, total_hint)
    n = reader.frames_decoded
    if n == 0:
        raise DecodeError(path, reader.error or "no frame could be decoded")
    if progress is not None:
        progress(n, total_hint)
    t_motion0 = time.perf_counter()
    intervals = tamper.finish()
    duration = times[-1] + frame_s
    timeline = [0.0] * max(1, math.ceil(duration - 1e-9))
    for t, a in zip(times, areas, strict=True):
        k = min(len(timeline) - 1, int(t))
        timeline[k] = max(timeline[k], round(a, 5))
    segments = motion_segments(times, areas, frame_s)
    motion_s += time.perf_counter() - t_motion0
    wall = time.perf_counter() - wall0
    return ClipReport(
        path=str(path),
        frames=n,
        fps=info.fps,
        duration_s=round(duration, 3),
        width=info.width,
        height=info.height,
        segments=segments,
        tamper=intervals,
        boxes=boxes,
        timeline=timeline,
        error=reader.error,
        stage_fps={
            "decode": n / decode_s if decode_s > 0 else 0.0,
            "motion": n / motion_s if motion_s > 0 else 0.0,
            "total": n / wall if wall > 0 else 0.0,
        },
    )


def write_boxes_csv(report: ClipReport, out: Path) -> None:
    """Write ``frame,x,y,w,h`` (frame 0-based, original pixels), one row per motion box."""
    with Path(out).open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["frame", "x", "y", "w", "h"])
        w.writerows(report.boxes)
