"""People anonymization on synthetic frames: plane operations, the temporal hold, the look-ahead."""

from __future__ import annotations

import av
import numpy as np
import pytest

from analytics.motion import MotionConfig
from privacy.people import (
    SOLID_PEOPLE,
    AnonymizeMode,
    PeopleTracker,
    Region,
    YuvFrame,
    anonymize,
    anonymize_region,
    block_size,
    expand_box,
)

W, H = 320, 240  # at the default work width the work resolution is the frame's: exact geometry
PERSON_W, PERSON_H = 16, 48


def _background(seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.integers(60, 140, (H // 8, W // 8), dtype=np.uint8)
    return np.kron(coarse, np.ones((8, 8), np.uint8))


def _scene(x: int, y: int = 100, *, bg: np.ndarray | None = None, person: int = 230) -> np.ndarray:
    luma = (_background() if bg is None else bg).copy()
    luma[y : y + PERSON_H, x : x + PERSON_W] = person
    return luma


def _random_frame(seed: int = 1) -> YuvFrame:
    rng = np.random.default_rng(seed)
    return YuvFrame.from_buffer(rng.integers(0, 256, W * H * 3 // 2, dtype=np.uint8), W, H)


def _covers(region: Region, x: int, y: int = 100) -> bool:
    return bool(region.mask[y : y + PERSON_H, x : x + PERSON_W].all())


def _touches(region: Region, x: int, y: int = 100) -> bool:
    return bool(region.mask[y : y + PERSON_H, x : x + PERSON_W].any())


# ---------------------------------------------------------------- planes


def test_yuv_frame_round_trip_is_exact() -> None:
    frame = _random_frame()
    av_frame = frame.to_av()
    assert (av_frame.width, av_frame.height, av_frame.format.name) == (W, H, "yuv420p")
    again = YuvFrame.from_av(av_frame)
    assert np.array_equal(again.buffer, frame.buffer)
    again.y[0, 0] ^= 0xFF  # a copy: the av frame is not written through
    assert np.array_equal(YuvFrame.from_av(av_frame).buffer, frame.buffer)


def test_yuv_frame_converts_other_formats() -> None:
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[..., 0] = 255
    frame = YuvFrame.from_av(av.VideoFrame.from_ndarray(rgb, format="rgb24"))
    assert frame.y.shape == (H, W)
    assert frame.u.shape == (H // 2, W // 2)
    assert 70 < int(frame.y.mean()) < 90
    assert int(frame.v.mean()) > 200
    with pytest.raises(ValueError, match="even"):
        YuvFrame.from_buffer(np.zeros(15 * 9, np.uint8), 15, 9)


@pytest.mark.parametrize("mode", ["pixelate", "blur", "solid"])
def test_anonymize_changes_the_box_and_nothing_far_from_it(mode: AnonymizeMode) -> None:
    frame = _random_frame()
    orig = YuvFrame.from_buffer(frame.buffer.copy(), W, H)
    box = (50, 40, 30, 70)
    anonymize(frame, [box], mode)
    x, y, w, h = box
    inside = frame.y[y : y + h, x : x + w].astype(int) - orig.y[y : y + h, x : x + w]
    assert np.mean(np.abs(inside)) > 30  # random content replaced by block means / blur / fill
    # pixelation grows the box to its block grid, never further
    b = block_size(W, H)
    keep = np.ones((H, W), bool)
    keep[(y // b) * b : -(-(y + h) // b) * b, (x // b) * b : -(-(x + w) // b) * b] = False
    assert np.array_equal(frame.y[keep], orig.y[keep])
    ckeep = keep.reshape(H // 2, 2, W // 2, 2).all(axis=(1, 3))
    assert np.array_equal(frame.u[ckeep], orig.u[ckeep])
    assert np.array_equal(frame.v[ckeep], orig.v[ckeep])
    if mode == "solid":
        assert np.all(frame.y[y : y + h, x : x + w] == SOLID_PEOPLE[0])
        assert np.all(frame.u[y // 2 : (y + h) // 2, x // 2 : (x + w) // 2] == SOLID_PEOPLE[1])
    if mode == "pixelate":
        # every block of the grid inside the box is one flat value (in Y, and in U/V at half size)
        bx0, by0 = -(-x // b) * b, -(-y // b) * b
        block = frame.y[by0 : by0 + b, bx0 : bx0 + b]
        assert block.min() == block.max()
        cblock = frame.u[by0 // 2 : (by0 + b) // 2, bx0 // 2 : (bx0 + b) // 2]
        assert cblock.min() == cblock.max()


def test_anonymize_region_follows_the_mask() -> None:
    frame = _random_frame()
    orig = YuvFrame.from_buffer(frame.buffer.copy(), W, H)
    mask = np.zeros((H, W), bool)
    mask[20:60, 20:40] = True  # an L shape: its bounding box has an unmasked corner
    mask[40:60, 40:100] = True
    anonymize_region(frame, Region(mask=mask, boxes=[(20, 20, 80, 40)]), "solid")
    assert np.all(frame.y[mask] == SOLID_PEOPLE[0])
    assert np.array_equal(frame.y[~mask], orig.y[~mask])
    anonymize_region(frame, Region(mask=np.zeros((H, W), bool), boxes=[]), "pixelate")  # a no-op


def test_expand_box_clips_to_the_frame() -> None:
    assert expand_box((100, 100, 20, 40), 0.5, W, H) == (90, 80, 40, 80)
    assert expand_box((0, 0, 20, 40), 0.5, W, H) == (0, 0, 30, 60)
    assert expand_box((300, 220, 20, 20), 0.5, W, H) == (290, 210, 30, 30)


# ---------------------------------------------------------------- tracker

FAST = MotionConfig(threshold=20, min_area_ratio=0.0002, dilate=1, learning_rate=0.5, warmup_frames=3)


def _run(tracker: PeopleTracker, scenes: list[np.ndarray], fps: float = 10.0) -> list[Region]:
    regions: list[Region] = []
    for i, luma in enumerate(scenes):
        tracker.observe(luma, i / fps)
        while tracker.ready:
            regions.append(tracker.release())
    while tracker.pending:
        regions.append(tracker.release())
    return regions


def test_hold_keeps_a_person_who_stops_masked_then_lets_go() -> None:
    # walks 6 px/frame for frames 0..11, then stands still at x=86 until the end (10 fps);
    # the fast background absorbs a standing person within a few frames: only the hold keeps them masked
    xs = [20 + 6 * min(i, 11) for i in range(40)]
    scenes = [_scene(x) for x in xs]
    regions = _run(PeopleTracker(W, H, margin=0.15, hold_seconds=1.5, motion=FAST), scenes)
    bare = _run(PeopleTracker(W, H, margin=0.15, hold_seconds=0.0, motion=FAST), scenes)
    assert len(regions) == 40
    stop = 11
    for i in range(FAST.warmup_frames + 1, stop + 1):
        assert _covers(regions[i], xs[i]), f"moving person not masked in frame {i}"
    # the detector alone loses the standing person well within the hold ...
    assert not _touches(bare[stop + 5], xs[stop + 5])
    # ... the hold keeps them masked for 1.5 s (15 frames) after the last motion
    for i in range(stop, stop + 15):
        assert _covers(regions[i], xs[i]), f"standing person released too early, frame {i}"
    assert not _touches(regions[-1], xs[-1])  # long after: the hold has ended


def test_lookahead_masks_a_person_before_they_start_moving() -> None:
    # stands at x=40 from the first frame (part of the warm-up background), then from frame 20 on
    # moves off by more than its width per frame (so the vacated spot differs at once)
    xs = [40 if i < 20 else 40 + 20 * (i - 19) for i in range(30)]
    slow = MotionConfig(threshold=20, min_area_ratio=0.0002, dilate=1, learning_rate=0.01, warmup_frames=3)
    tracker = PeopleTracker(W, H, hold_seconds=0.0, motion=slow, lookahead_frames=5)
    regions = _run(tracker, [_scene(x) for x in xs])
    assert len(regions) == 30
    for i in range(15, 20):  # within 5 frames before the first motion
        assert _covers(regions[i], 40), f"frame {i} not masked ahead of the motion"
    assert not _touches(regions[14], 40)  # further back than the look-ahead: visible (known limit)
    for i in range(20, 30):
        assert _covers(regions[i], xs[i])


def test_lookahead_covers_the_warmup() -> None:
    # someone walking from the very first frame: the detector reports nothing during its warm-up;
    # the frames of the warm-up are released only once motion after it has been seen
    xs = [20 + 4 * i for i in range(20)]
    tracker = PeopleTracker(W, H, hold_seconds=0.0, motion=FAST, lookahead_frames=4)
    regions = _run(tracker, [_scene(x) for x in xs])
    for i in range(FAST.warmup_frames):
        assert _touches(regions[i], xs[i]), f"warm-up frame {i} left unmasked"
    no_lookahead = _run(PeopleTracker(W, H, hold_seconds=0.0, motion=FAST), [_scene(x) for x in xs])
    assert not _touches(no_lookahead[0], xs[0])


def test_global_change_keeps_what_was_masked() -> None:
    bg = _background()
    scenes = [_scene(20 + 5 * i, bg=bg) for i in range(12)]
    bright = np.clip(_scene(80, bg=bg).astype(int) + 90, 0, 255).astype(np.uint8)  # lights on
    scenes.append(bright)
    tracker = PeopleTracker(W, H, hold_seconds=0.0, motion=FAST)
    regions = _run(tracker, scenes)
    assert tracker.global_changes == 1
    assert _covers(regions[11], 75)
    assert _covers(regions[12], 75)  # nothing trustworthy in the flash: the last mask stays


def test_release_needs_an_observed_frame_and_valid_settings() -> None:
    tracker = PeopleTracker(W, H)
    with pytest.raises(RuntimeError):
        tracker.release()
    with pytest.raises(ValueError, match="margin"):
        PeopleTracker(W, H, margin=-0.1)
    with pytest.raises(ValueError, match="hold_seconds"):
        PeopleTracker(W, H, hold_seconds=-1)
