"""Optional face detection with OpenCV's ``FaceDetectorYN`` (YuNet ONNX model given by path).

Faces back up the people masker: a face that does not move (someone seated, close to the camera)
is not in the moving foreground. Detections are held for ``hold_frames`` frames, so a face the
detector misses for a frame or two is still covered, and are widened by a margin before masking.
YuNet needs BGR input: the caller converts a frame only when faces are enabled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from privacy.people import Box, expand_box

__all__ = ["Face", "FaceMasker"]


@dataclass(frozen=True)
class Face:
    box: Box  # x, y, w, h in frame pixels (as detected, no margin)
    score: float


class FaceMasker:
    """YuNet face detection with a short hold; one instance per clip (it keeps the hold state)."""

    def __init__(
        self,
        model_path: Path,
        score_threshold: float = 0.6,
        hold_frames: int = 5,
        *,
        margin: float = 0.25,
        nms_threshold: float = 0.3,
        top_k: int = 5000,
    ) -> None:
        model_path = Path(model_path)
        if not model_path.is_file():
            raise FileNotFoundError(f"face model {model_path}: no such file (expected a YuNet .onnx model)")
        if not 0.0 < score_threshold < 1.0:
            raise ValueError(f"score_threshold must be in (0, 1), got {score_threshold}")
        if hold_frames < 0:
            raise ValueError(f"hold_frames must be >= 0, got {hold_frames}")
        if margin < 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        self.model_path = model_path
        self.score_threshold = score_threshold
        self.hold_frames = hold_frames
        self.margin = margin
        self._nms = nms_threshold
        self._top_k = top_k
        self._detector: Any = None
        self._size: tuple[int, int] | None = None
        self._held: list[tuple[Box, int]] = []  # (box with margin, frames left)
        self.frames_seen = 0
        self.faces_detected = 0

    def _ensure(self, width: int, height: int) -> Any:
        if self._detector is None:
            try:
                self._detector = cv2.FaceDetectorYN.create(
                    str(self.model_path), "", (width, height), self.score_threshold, self._nms, self._top_k
                )
            except cv2.error as exc:
                raise ValueError(f"face model {self.model_path}: OpenCV cannot load it: {exc}") from exc
            self._size = (width, height)
        elif self._size != (width, height):
            self._detector.setInputSize((width, height))
            self._size = (width, height)
        return self._detector

    def detect(self, bgr: np.ndarray) -> list[Face]:
        """Faces in one BGR frame (``height x width x 3`` uint8), no hold, no margin."""
        if bgr.ndim != 3 or bgr.shape[2] != 3:
            raise ValueError(f"expected a BGR image (HxWx3), got shape {bgr.shape}")
        h, w = bgr.shape[:2]
        _, rows = self._ensure(w, h).detect(bgr)
        if rows is None:
            return []
        faces: list[Face] = []
        for row in rows:
            x, y, fw, fh = (float(v) for v in row[:4])
            x0, y0 = max(0, math.floor(x)), max(0, math.floor(y))
            x1, y1 = min(w, math.ceil(x + fw)), min(h, math.ceil(y + fh))
            if x1 > x0 and y1 > y0:
                faces.append(Face(box=(x0, y0, x1 - x0, y1 - y0), score=float(row[-1])))
        return faces

    def update(self, bgr: np.ndarray) -> list[Box]:
        """Regions to mask in this frame: its detections and those of the last ``hold_frames``
        frames, each widened by ``margin`` (a fraction of the face size) on every side."""
        h, w = bgr.shape[:2]
        faces = self.detect(bgr)
        self.frames_seen += 1
        self.faces_detected += len(faces)
        held = [(box, left - 1) for box, left in self._held if left > 0]
        held.extend((expand_box(f.box, self.margin, w, h), self.hold_frames) for f in faces)
        self._held = held
        return [box for box, _ in held]

    def reset(self) -> None:
        """Forget held detections (e.g. at a cut or a seek)."""
        self._held = []
