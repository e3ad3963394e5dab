"""Tamper detector state machines on in-memory work-resolution frames (10 fps, 160x90)."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pytest

from analytics.tamper import TamperConfig, TamperDetector, TamperInterval

FPS = 10
W, H = 160, 90


def scene(seed: int = 5, pad: int = 40) -> np.ndarray:
    rng = np.random.default_rng(seed)
    grid = rng.normal(0, 1, size=(9, 20)).astype(np.float32)
    img = 120 + 45 * cv2.resize(grid, (W + pad, H), interpolation=cv2.INTER_CUBIC)
    for _ in range(40):  # hard edges: windows, signs (what a defocus blurs away)
        x, y = int(rng.integers(0, W + pad - 8)), int(rng.integers(0, H - 6))
        img[y : y + 6, x : x + 8] = float(rng.uniform(50, 200))
    out: np.ndarray = np.clip(img, 40, 210).astype(np.float32)
    return out


def feed(seconds: float, render: Callable[[int, np.random.Generator], np.ndarray]) -> list[TamperInterval]:
    det = TamperDetector(FPS, TamperConfig())
    rng = np.random.default_rng(0)
    for i in range(round(seconds * FPS)):
        img = render(i, rng)
        det.update(i / FPS, np.clip(img + rng.normal(0, 1.5, img.shape), 0, 255).astype(np.uint8))
    return det.finish()


def test_quiet_scene_has_no_tamper() -> None:
    bg = scene()[:, :W]
    assert feed(20, lambda i, rng: bg) == []


def test_moved_until_it_comes_back() -> None:
    bg = scene()

    def render(i: int, rng: np.random.Generator) -> np.ndarray:
        off = 32 if 30 <= i < 80 else 0  # moved at 3 s, back at 8 s
        return bg[:, off : off + W]

    assert feed(12, render) == [TamperInterval("moved", 3.0, 8.0)]


def test_brief_occlusion_is_not_moved() -> None:
    bg = scene()[:, :W]

    def render(i: int, rng: np.random.Generator) -> np.ndarray:
        if 30 <= i < 40:  # a bus fills the view for 1 s: it settles back, so not a move
            bus: np.ndarray = np.full_like(bg, 90.0) + 30 * (np.arange(W)[None, :] % 16 < 8)
            return bus
        return bg

    assert [iv.kind for iv in feed(8, render)] == []


def test_lights_that_stay_off_become_the_baseline() -> None:
    bg = scene()[:, :W]
    out = feed(25, lambda i, rng: bg * (0.4 if i >= 30 else 1.0))
    assert out == [TamperInterval("lights", 3.0, 3.0 + TamperConfig().lights_settle_s)]


def test_covered_frozen_defocus() -> None:
    bg = scene()[:, :W]
    frozen = np.clip(bg + np.random.default_rng(9).normal(0, 1.5, bg.shape), 0, 255).astype(np.uint8)
    det = TamperDetector(FPS)
    rng = np.random.default_rng(1)
    for i in range(160):
        t = i / FPS
        if 20 <= i < 50:
            frame = np.full((H, W), 8, np.uint8)  # covered 2..5 s
        elif 70 <= i < 100:
            frame = frozen  # frozen 7..10 s
        elif 120 <= i < 145:
            frame = np.clip(cv2.GaussianBlur(bg, (0, 0), 3) + rng.normal(0, 1.5, bg.shape), 0, 255).astype(
                np.uint8
            )  # defocus 12..14.5 s
        else:
            frame = np.clip(bg + rng.normal(0, 1.5, bg.shape), 0, 255).astype(np.uint8)
        det.update(t, frame)
    got = {iv.kind: (iv.start_s, iv.end_s) for iv in det.finish()}
    assert set(got) == {"covered", "frozen", "defocus"}
    assert got["covered"] == pytest.approx((2.0, 5.0))
    assert got["frozen"] == pytest.approx((7.0, 10.0))
    assert got["defocus"] == pytest.approx((12.0, 14.5))


def test_short_freeze_is_ignored() -> None:
    bg = scene()[:, :W]
    still = np.clip(bg, 0, 255).astype(np.uint8)
    det = TamperDetector(FPS)
    rng = np.random.default_rng(2)
    for i in range(60):
        frame = still if 20 <= i < 35 else np.clip(bg + rng.normal(0, 1.5, bg.shape), 0, 255).astype(np.uint8)
        det.update(i / FPS, frame)
    assert det.finish() == []  # 1.5 s < frozen_s
