"""Camera-tamper signals from the work-resolution luma the motion detector already made.

Per frame (a few cheap statistics on a 320-wide image, plus an 80-wide thumbnail):

``covered``
    Blackout / lens covered: the frame's standard deviation is near zero (or it is very dark and
    nearly flat).
``defocus``
    Sharpness collapses: the variance of the Laplacian, normalized by the image variance (so it does
    not move with gain or lighting), falls below ``defocus_ratio`` of its learned baseline.
``frozen``
    Identical frames: the mean absolute difference from the previous frame stays below
    ``frozen_mad`` (live sensor noise keeps it well above) with no motion, for ``frozen_s``.
``moved``
    The thumbnail's normalized cross-correlation with the reference view (invariant to gain and
    offset, so lights do not trigger it) stays below ``moved_ncc`` for ``moved_s``: a scene change
    that does not settle back. The interval lasts until the old view returns or the clip ends; the
    new view becomes the reference for the other checks.
``lights``
    A global brightness step on the *same* scene (correlation still high): lights, IR cut. The
    interval lasts until the brightness returns to the old level, or for at most ``lights_settle_s``,
    after which the new level is the baseline. Reported here, never as motion.

Baselines (reference thumbnail, brightness, sharpness) learn only from frames that are normal, so a
tamper event does not teach itself in. Intervals shorter than the kind's minimum are dropped; short
interruptions (``gap_s``, e.g. an I-frame in a frozen stream) do not split an interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from analytics.motion import FrameMotion, area_downscale

__all__ = ["KINDS", "TamperConfig", "TamperDetector", "TamperInterval"]

KINDS = ("covered", "defocus", "moved", "frozen", "lights")

_THUMB_W = 80


@dataclass(frozen=True)
class TamperInterval:
    kind: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class TamperConfig:
    warmup_s: float = 1.0  # baselines are learned first; nothing is reported meanwhile
    gap_s: float = 0.25  # interruptions shorter than this do not end an interval
    covered_std: float = 6.0  # luma std (work resolution) below which the lens counts as covered
    covered_dark_mean: float = 16.0  # ... or mean below this with std below 2 * covered_std
    covered_s: float = 1.0
    defocus_ratio: float = 0.35  # normalized sharpness / baseline below this: defocused
    defocus_s: float = 1.0
    frozen_mad: float = 0.05  # mean |frame - previous| below this: identical frames
    frozen_s: float = 2.0
    moved_ncc: float = 0.6  # correlation with the reference view below this: another scene
    moved_s: float = 2.0
    lights_delta: float = 18.0  # brightness step (luma levels) that counts as lights switching ...
    lights_rel: float = 0.2  # ... and at least this share of the baseline brightness
    lights_s: float = 0.5
    lights_settle_s: float = 10.0  # a new level held this long becomes the baseline
    baseline_rate: float = 0.02  # per-frame EMA rate of the baselines


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    """Zero-mean normalized cross-correlation of two equally sized float32 images (0 if either is flat)."""
    da = a - float(a.mean())
    db = b - float(b.mean())
    den = float(np.sqrt(float((da * da).sum()) * float((db * db).sum())))
    if den < 1e-6:
        return 0.0
    return float((da * db).sum()) / den


class _Run:
    """Turns a per-frame boolean into intervals with a minimum length and gap tolerance."""

    def __init__(self, kind: str, min_s: float, gap_s: float) -> None:
        self.kind = kind
        self.min_s = min_s
        self.gap_s = gap_s
        self.start: float | None = None
        self.last: float | None = None  # end (exclusive) of the last active frame
        self.out: list[TamperInterval] = []

    def update(self, t: float, dt: float, active: bool, start: float | None = None) -> None:
        if active:
            if self.start is None:
                self.start = t if start is None else start
            self.last = t + dt
        elif self.start is not None and self.last is not None and t - self.last >= self.gap_s:
            self.close()

    @property
    def open_for(self) -> float:
        return 0.0 if self.start is None or self.last is None else self.last - self.start

    def close(self, at: float | None = None) -> None:
        if self.start is not None and self.last is not None:
            end = self.last if at is None else at
            if end - self.start >= self.min_s - 1e-9:
                self.out.append(TamperInterval(self.kind, round(self.start, 3), round(end, 3)))
        self.start = None
        self.last = None


class TamperDetector:
    """Feed every frame (time, work-resolution luma, its :class:`FrameMotion`); call :meth:`finish`."""

    def __init__(self, fps: float, config: TamperConfig = TamperConfig()) -> None:
        self.fps = fps if fps > 0 else 25.0
        self.dt = 1.0 / self.fps
        self.config = config
        c = config
        self._runs = {
            "covered": _Run("covered", c.covered_s, c.gap_s),
            "defocus": _Run("defocus", c.defocus_s, c.gap_s),
            "frozen": _Run("frozen", c.frozen_s, c.gap_s),
            "moved": _Run("moved", c.moved_s, c.gap_s),
            "lights": _Run("lights", c.lights_s, c.gap_s),
        }
        self._ref: np.ndarray | None = None  # reference thumbnail (float32)
        self._moved_from: np.ndarray | None = None  # the view before a confirmed move
        self._mean_base = 0.0
        self._sharp_base = 0.0
        self._prev: np.ndarray | None = None
        self._frames = 0
        self._warm = max(1, round(c.warmup_s * self.fps))
        self._t_end = 0.0
        self._prev_t = 0.0
        self.state: frozenset[str] = frozenset()  # candidate kinds in the last frame (before min lengths)

    def update(
        self, time_s: float, work_luma: np.ndarray, motion: FrameMotion | None = None
    ) -> frozenset[str]:
        """Account one frame; returns the tamper kinds this frame looks like (unconfirmed)."""
        c = self.config
        dt = self.dt
        self._t_end = time_s + dt
        h, w = work_luma.shape
        thumb = area_downscale(work_luma, _THUMB_W, max(1, round(h * _THUMB_W / w))).astype(np.float32)
        mean_a, std_a = cv2.meanStdDev(work_luma)
        mean, std = float(mean_a[0, 0]), float(std_a[0, 0])
        lap = cv2.Laplacian(work_luma, cv2.CV_16S, ksize=1)
        _, lstd = cv2.meanStdDev(lap)
        sharp = float(lstd[0, 0]) ** 2 / (std * std + 1.0)
        prev, self._prev = self._prev, work_luma  # a fresh array per frame: no copy needed
        prev_t, self._prev_t = self._prev_t, time_s
        moving = motion is not None and motion.area_ratio > 0.0
        self._frames += 1

        if self._frames <= self._warm or self._ref is None:
            self._learn(thumb, mean, sharp, max(c.baseline_rate, 1.0 / self._frames))
            self.state = frozenset()
            return self.state

        ncc = 1.0
        covered = std < c.covered_std or (mean < c.covered_dark_mean and std < 2 * c.covered_std)
        kinds: set[str] = set()
        if covered:
            kinds.add("covered")
        else:
            ncc = _ncc(thumb, self._ref)
            if self._moved_from is not None and _ncc(thumb, self._moved_from) >= c.moved_ncc:
                # the camera is back where it was: end the move, the old view is the reference again
                self._runs["moved"].close(at=time_s)
                self._ref, self._moved_from = self._moved_from, None
                ncc = _ncc(thumb, self._ref)
            if self._moved_from is not None:
                kinds.add("moved")  # a confirmed move lasts until the old view returns
            if ncc < c.moved_ncc:
                kinds.add("moved")
            else:
                if sharp < c.defocus_ratio * self._sharp_base:
                    kinds.add("defocus")
                step = abs(mean - self._mean_base)
                if step > c.lights_delta and step > c.lights_rel * self._mean_base:
                    kinds.add("lights")
                if prev is not None and not moving and prev.shape == work_luma.shape:
                    mad = float(cv2.norm(work_luma, prev, cv2.NORM_L1)) / work_luma.size
                    if mad < c.frozen_mad:
                        kinds.add("frozen")

        for kind, run in self._runs.items():
            if kind == "moved" and self._moved_from is not None:
                run.update(time_s, dt, True)
                continue
            # a frozen run starts at the first of the identical frames, one before the first repeat
            run.update(time_s, dt, kind in kinds, start=prev_t if kind == "frozen" else None)

        moved = self._runs["moved"]
        if self._moved_from is None and moved.start is not None and moved.open_for >= c.moved_s:
            # confirmed: remember the old view, adopt the new one as the reference
            self._moved_from = self._ref
            self._ref = thumb
        lights = self._runs["lights"]
        if lights.start is not None and lights.open_for >= c.lights_settle_s:
            lights.close()
            self._mean_base = mean
        if not kinds or (kinds == {"moved"} and self._moved_from is not None and ncc >= c.moved_ncc):
            self._learn(thumb, mean, sharp, c.baseline_rate)
        self.state = frozenset(kinds)
        return self.state

    def _learn(self, thumb: np.ndarray, mean: float, sharp: float, rate: float) -> None:
        if self._ref is None:
            self._ref = thumb
        else:
            self._ref = self._ref + rate * (thumb - self._ref)
        self._mean_base += rate * (mean - self._mean_base)
        self._sharp_base += rate * (sharp - self._sharp_base)

    def finish(self) -> list[TamperInterval]:
        """Close open intervals at the end of the clip; all intervals, sorted by start."""
        for run in self._runs.values():
            if run.start is not None:
                run.close(at=self._t_end)
        out = [iv for run in self._runs.values() for iv in run.out]
        return sorted(out, key=lambda iv: (iv.start_s, iv.kind))
