"""Motion detection on downscaled luma (the Frigate recipe, trimmed to what a VMS bridge needs).

Per frame: resize the full-resolution Y plane to ``work_width`` (``INTER_AREA``), a 3x3 box blur
against sensor noise, compare with a running-average background after removing the frame's global
brightness offset (the median of the signed difference, robust to objects covering less than half of
the frame), threshold, drop ignore zones, dilate, and turn external contours into boxes in original
pixel coordinates.

A *global change* (lights switching, IR day/night cut, the lens being covered, the camera being
moved) is a frame where more than ``global_change_ratio`` of the pixels change, or where the global
brightness offset itself exceeds ``threshold``: it yields no boxes and a zero ``area_ratio``, and the
background is re-seeded from the frame so the new scene is the reference from then on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np

from analytics.geometry import Polygon, polygon_mask

__all__ = ["Detector", "FrameMotion", "MotionConfig", "MotionDetector", "area_downscale", "work_size"]

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class MotionConfig:
    work_width: int = 320  # luma is downscaled to this width (keep aspect); never upscaled
    threshold: int = 25  # luma change that counts (1..255)
    min_area_ratio: float = 0.0005  # of the frame, for a box to count
    dilate: int = 2  # dilation iterations (3x3)
    learning_rate: float = 0.02  # background model update per frame
    global_change_ratio: float = 0.5  # share of changed pixels above which a frame is a global change
    warmup_frames: int = 10  # frames used to build the background; nothing is reported meanwhile

    def __post_init__(self) -> None:
        if not 16 <= self.work_width <= 4096:
            raise ValueError(f"work_width must be in 16..4096, got {self.work_width}")
        if not 1 <= self.threshold <= 255:
            raise ValueError(f"threshold must be in 1..255, got {self.threshold}")
        if not 0.0 <= self.min_area_ratio < 1.0:
            raise ValueError(f"min_area_ratio must be in [0, 1), got {self.min_area_ratio}")
        if not 0 <= self.dilate <= 20:
            raise ValueError(f"dilate must be in 0..20, got {self.dilate}")
        if not 0.0 < self.learning_rate <= 1.0:
            raise ValueError(f"learning_rate must be in (0, 1], got {self.learning_rate}")
        if not 0.0 < self.global_change_ratio <= 1.0:
            raise ValueError(f"global_change_ratio must be in (0, 1], got {self.global_change_ratio}")
        if self.warmup_frames < 1:
            raise ValueError(f"warmup_frames must be >= 1, got {self.warmup_frames}")


@dataclass(frozen=True)
class FrameMotion:
    boxes: list[Box]  # x, y, w, h in ORIGINAL pixel coordinates
    area_ratio: float  # moving area / frame area (0 on a global change)
    global_change: bool
    # uint8 0/255 at work resolution, ignore zones removed. All zero during the warm-up; on a global
    # change, every pixel that changed (most of the frame): over-masking is the safe side for privacy.
    foreground: np.ndarray = field(repr=False)
    scale: float  # original width / work width


class Detector(Protocol):
    """The stage interface: a luma plane in, boxes out."""

    def process(self, luma: np.ndarray) -> FrameMotion: ...

    def reset(self) -> None: ...


def work_size(width: int, height: int, work_width: int) -> tuple[int, int]:
    """Work resolution for a ``width x height`` source: ``work_width`` wide (never wider than the source)."""
    ww = min(work_width, width)
    wh = max(1, round(height * ww / width))
    return ww, wh


_KERNEL = np.ones((3, 3), dtype=np.uint8)


def area_downscale(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize ``img`` down to ``width x height`` with ``INTER_AREA``.

    Halves first while the image stays at least twice the target (OpenCV's exact 2x area path is
    vectorized and ~5x faster than its general area path, and two 2x area steps are a 4x area
    average), then one general ``INTER_AREA`` step for what is left (none when the source is the
    target times a power of two, e.g. 1280x720 or 2560x1440 -> 320x180).
    """
    h, w = img.shape[:2]
    if (w, h) == (width, height):
        return img if img.flags.c_contiguous else np.ascontiguousarray(img)
    while w >= 2 * width and h >= 2 * height:
        w, h = w // 2, h // 2
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    if (w, h) != (width, height):
        img = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)
    return img


class MotionDetector:
    """Background-subtraction motion detector for one camera at a fixed frame size."""

    def __init__(
        self,
        width: int,
        height: int,
        config: MotionConfig = MotionConfig(),
        ignore: Sequence[Polygon] = (),
    ) -> None:
        if width <= 0 or height <= 0:
            raise ValueError(f"frame size must be positive, got {width}x{height}")
        self.width = width
        self.height = height
        self.config = config
        self.work_w, self.work_h = work_size(width, height, config.work_width)
        self.scale = width / self.work_w
        self._sx = width / self.work_w
        self._sy = height / self.work_h
        self._min_area_px = config.min_area_ratio * self.work_w * self.work_h
        if ignore:
            ign = polygon_mask(ignore, self.work_w, self.work_h, scale=self.work_w / width)
            # a zone also ignores what dilation would smear into it from its own pixels
            self._keep: np.ndarray | None = cv2.bitwise_not(ign)
            kept = int(np.count_nonzero(self._keep))
            self._keep_count = max(kept, 1)
        else:
            self._keep = None
            self._keep_count = self.work_w * self.work_h
        self._empty = np.zeros((self.work_h, self.work_w), dtype=np.uint8)
        self._empty.flags.writeable = False  # shared by every "nothing" result
        self._bg: np.ndarray = np.zeros((self.work_h, self.work_w), dtype=np.float32)
        self._seen = 0
        self.work_luma: np.ndarray = self._empty  # last downscaled (unblurred) luma, for tamper checks
        self.last_offset: float = 0.0  # last global brightness offset (frame - background, median)

    def reset(self) -> None:
        """Forget the background (e.g. after a seek); the next ``warmup_frames`` frames rebuild it."""
        self._seen = 0
        self._bg[:] = 0

    def downscale(self, luma: np.ndarray) -> np.ndarray:
        """Full-resolution luma to work resolution (``INTER_AREA``, see :func:`area_downscale`)."""
        if luma.shape != (self.height, self.width):
            got = "x".join(str(n) for n in luma.shape[::-1])
            raise ValueError(f"expected a {self.width}x{self.height} luma plane, got {got}")
        return area_downscale(luma, self.work_w, self.work_h)

    def _nothing(self, global_change: bool, foreground: np.ndarray | None = None) -> FrameMotion:
        fg = self._empty if foreground is None else foreground
        return FrameMotion(
            boxes=[], area_ratio=0.0, global_change=global_change, foreground=fg, scale=self.scale
        )

    def process(self, luma: np.ndarray) -> FrameMotion:
        cfg = self.config
        small = self.downscale(luma)
        self.work_luma = small
        cur = cv2.blur(small, (3, 3))

        if self._seen < cfg.warmup_frames:
            # running mean over the warm-up, then the configured rate
            rate = max(cfg.learning_rate, 1.0 / (self._seen + 1))
            cv2.accumulateWeighted(cur, self._bg, rate)
            self._seen += 1
            self.last_offset = 0.0
            return self._nothing(False)

        bg8 = cv2.convertScaleAbs(self._bg)
        # global brightness offset: median of (frame - background) on a 1/16 sample, robust to objects
        offset = int(np.median(cur[::4, ::4].astype(np.int16) - bg8[::4, ::4]))
        self.last_offset = float(offset)
        _, raw = cv2.threshold(cv2.absdiff(cur, bg8), cfg.threshold, 255, cv2.THRESH_BINARY)
        if self._keep is not None:
            cv2.bitwise_and(raw, self._keep, dst=raw)
        raw_share = cv2.countNonZero(raw) / self._keep_count
        if raw_share > cfg.global_change_ratio or abs(offset) > cfg.threshold:
            # lights / IR cut / covered / moved: not motion; the new scene becomes the background
            self._bg[:] = cur
            return self._nothing(True, foreground=raw)

        if offset:
            # compare with the background shifted by the offset (saturating uint8 arithmetic)
            step = np.full_like(bg8, abs(offset))
            ref = cv2.add(bg8, step) if offset > 0 else cv2.subtract(bg8, step)
            fg = cv2.threshold(cv2.absdiff(cur, ref), cfg.threshold, 255, cv2.THRESH_BINARY)[1]
            if self._keep is not None:
                cv2.bitwise_and(fg, self._keep, dst=fg)
        else:
            fg = raw
        if cfg.dilate:
            fg = cv2.dilate(fg, _KERNEL, iterations=cfg.dilate)
        if self._keep is not None:
            cv2.bitwise_and(fg, self._keep, dst=fg)
        cv2.accumulateWeighted(cur, self._bg, cfg.learning_rate)

        contours, _ = cv2.findContours(fg, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        boxes: list[Box] = []
        area = 0.0
        for c in contours:
            x, y, w, h = cv2.boundingRect(c)
            if w * h < self._min_area_px:
                continue
            area += max(float(cv2.contourArea(c)), 1.0)
            x0 = int(x * self._sx)
            y0 = int(y * self._sy)
            x1 = min(self.width, int(np.ceil((x + w) * self._sx)))
            y1 = min(self.height, int(np.ceil((y + h) * self._sy)))
            boxes.append((x0, y0, x1 - x0, y1 - y0))
        boxes.sort()
        area_ratio = min(1.0, area / (self.work_w * self.work_h)) if boxes else 0.0
        return FrameMotion(
            boxes=boxes, area_ratio=area_ratio, global_change=False, foreground=fg, scale=self.scale
        )
