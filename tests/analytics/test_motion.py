"""The motion detector on in-memory luma: original coordinates, ignore zones, global changes."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import pytest

from analytics.geometry import Polygon, parse_pixel_polygon
from analytics.motion import FrameMotion, MotionConfig, MotionDetector, area_downscale, work_size

W, H = 1280, 720  # 4x the default work width: boxes must come back scaled


def background(seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    grid = rng.normal(0, 1, size=(18, 32)).astype(np.float32)
    img = 128 + 40 * cv2.resize(grid, (W, H), interpolation=cv2.INTER_CUBIC)
    return np.clip(img, 40, 215).astype(np.float32)


def frame(bg: np.ndarray, rng: np.random.Generator, blob: tuple[int, int, int, int] | None) -> np.ndarray:
    img = bg + rng.normal(0, 2.0, size=bg.shape).astype(np.float32)
    if blob is not None:
        x, y, w, h = blob
        img[y : y + h, x : x + w] = 20.0
    out: np.ndarray = np.clip(img, 0, 255).astype(np.uint8)
    return out


def run(
    blobs: Sequence[tuple[int, int, int, int] | None], ignore: Sequence[Polygon] = ()
) -> list[FrameMotion]:
    det = MotionDetector(W, H, MotionConfig(), ignore)
    rng = np.random.default_rng(7)
    bg = background()
    return [det.process(frame(bg, rng, b)) for b in blobs]


def test_work_size_and_downscale() -> None:
    assert work_size(1280, 720, 320) == (320, 180)
    assert work_size(1920, 1080, 320) == (320, 180)
    assert work_size(480, 270, 320) == (320, 180)
    assert work_size(176, 144, 320) == (176, 144)  # never upscaled
    img = np.arange(720 * 1280, dtype=np.uint32).reshape(720, 1280).astype(np.uint8)
    ref = cv2.resize(img, (320, 180), interpolation=cv2.INTER_AREA).astype(int)
    assert np.abs(area_downscale(img, 320, 180).astype(int) - ref).max() <= 1


def test_box_in_original_coordinates() -> None:
    blob = (700, 300, 60, 150)  # x, y, w, h in 1280x720 pixels
    out = run([None] * 12 + [blob] * 3)
    warm = out[:12]
    assert all(not m.boxes for m in warm)
    m = out[-3]
    assert m.scale == pytest.approx(4.0)
    assert m.foreground.shape == (180, 320)
    assert len(m.boxes) == 1
    x, y, w, h = m.boxes[0]
    # the box holds the blob and exceeds it by no more than the dilation/blur margin (work px * 4)
    margin = 4 * (MotionConfig().dilate + 2)
    assert x <= 700 <= x + margin
    assert y <= 300 <= y + margin
    assert 760 <= x + w <= 760 + margin
    assert 450 <= y + h <= 450 + margin
    assert m.area_ratio == pytest.approx(60 * 150 / (W * H), rel=0.5)


def test_ignore_zone_removes_motion() -> None:
    blob = (700, 300, 60, 150)
    zone = parse_pixel_polygon("650,250 820,250 820,500 650,500")
    other = (200, 100, 60, 150)
    seq = [None] * 12 + [blob, blob]
    assert run(seq)[-1].boxes
    masked = run(seq, ignore=[zone])[-1]
    assert masked.boxes == []
    assert masked.area_ratio == 0.0
    assert not masked.foreground[60:125, 163:205].any()
    # motion outside the zone is still seen
    both = run([None] * 12 + [None, other], ignore=[zone])[-1]
    assert len(both.boxes) == 1
    assert both.boxes[0][0] <= 200 < both.boxes[0][0] + both.boxes[0][2]


def test_global_brightness_step_is_not_motion() -> None:
    det = MotionDetector(W, H)
    rng = np.random.default_rng(1)
    bg = background()
    for _ in range(12):
        det.process(frame(bg, rng, None))
    dark = det.process(np.clip(bg * 0.4 + rng.normal(0, 2, bg.shape), 0, 255).astype(np.uint8))
    assert dark.global_change
    assert dark.boxes == []
    assert dark.area_ratio == 0.0
    # the new level is the background from now on: a person walking in the dark is seen
    after = [
        det.process(np.clip(bg * 0.4 + rng.normal(0, 2, bg.shape), 0, 255).astype(np.uint8)) for _ in range(3)
    ]
    assert all(not m.global_change and not m.boxes for m in after)
    lit = np.clip(bg * 0.4 + rng.normal(0, 2, bg.shape), 0, 255).astype(np.uint8)
    lit[300:450, 700:760] = 230
    assert len(det.process(lit).boxes) == 1


def test_small_offset_is_compensated() -> None:
    # a brightness drift of 20 levels (below the threshold step) plus texture: no motion anywhere
    det = MotionDetector(W, H)
    rng = np.random.default_rng(2)
    bg = background()
    for _ in range(12):
        det.process(frame(bg, rng, None))
    m = det.process(frame(bg - 20, rng, None))
    assert not m.global_change
    assert m.boxes == []


def test_reset_and_bad_input() -> None:
    det = MotionDetector(W, H, MotionConfig(warmup_frames=2))
    bg = background()
    rng = np.random.default_rng(0)
    for _ in range(3):
        det.process(frame(bg, rng, None))
    det.reset()
    assert det.process(frame(bg, rng, (10, 10, 100, 100))).boxes == []  # warming up again
    with pytest.raises(ValueError, match="expected a 1280x720 luma plane"):
        det.process(np.zeros((10, 10), np.uint8))


@pytest.mark.parametrize(
    "kw",
    [{"threshold": 0}, {"threshold": 256}, {"work_width": 8}, {"learning_rate": 0.0}, {"warmup_frames": 0}],
)
def test_config_bounds(kw: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(kw))):
        MotionConfig(**kw)  # type: ignore[arg-type]
