"""FaceMasker: YuNet detections on a real face, held across missed frames, widened by a margin."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from privacy.faces import FaceMasker
from tests.privacy import carphone_clip, decode, yunet_model


@pytest.fixture(scope="module")
def carphone_bgr() -> list[np.ndarray]:
    return decode(carphone_clip(), bgr=True).bgrs[:3]


def _inside(inner: tuple[int, int, int, int], outer: tuple[int, int, int, int]) -> bool:
    ix, iy, iw, ih = inner
    ox, oy, ow, oh = outer
    return ox <= ix and oy <= iy and ix + iw <= ox + ow and iy + ih <= oy + oh


def test_detects_the_face_and_holds_it_over_missed_frames(carphone_bgr: list[np.ndarray]) -> None:
    masker = FaceMasker(yunet_model(), hold_frames=2, margin=0.25)
    faces = masker.detect(carphone_bgr[0])
    assert len(faces) == 1
    assert faces[0].score > 0.6
    _x, _y, w, h = faces[0].box
    assert 30 <= w <= 80
    assert 40 <= h <= 90

    held = masker.update(carphone_bgr[0])
    assert len(held) == 1
    assert _inside(faces[0].box, held[0])
    hx, _hy, hw, _hh = held[0]
    assert hw >= w * 1.4 or hx == 0 or hx + hw == 176  # 25 % margin each side, unless clipped

    blank = np.full_like(carphone_bgr[0], 128)  # the detector "misses" the face
    assert masker.detect(blank) == []
    assert masker.update(blank) == held  # held for hold_frames frames ...
    assert masker.update(blank) == held
    assert masker.update(blank) == []  # ... then released
    assert masker.faces_detected == 1
    assert masker.frames_seen == 4

    masker.update(carphone_bgr[1])
    masker.reset()
    assert masker.update(blank) == []


def test_input_size_follows_the_frame(carphone_bgr: list[np.ndarray]) -> None:
    masker = FaceMasker(yunet_model())
    big = np.ascontiguousarray(np.repeat(np.repeat(carphone_bgr[0], 2, axis=0), 2, axis=1))
    small = masker.detect(carphone_bgr[0])
    large = masker.detect(big)
    assert len(small) == 1
    assert len(large) == 1
    assert large[0].box[2] == pytest.approx(2 * small[0].box[2], rel=0.15)


def test_bad_model_and_arguments(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such file"):
        FaceMasker(tmp_path / "missing.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not an onnx model")
    with pytest.raises(ValueError, match="cannot load"):
        FaceMasker(junk).detect(np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="score_threshold"):
        FaceMasker(yunet_model(), score_threshold=1.5)
    with pytest.raises(ValueError, match="BGR"):
        FaceMasker(yunet_model()).detect(np.zeros((64, 64), np.uint8))
