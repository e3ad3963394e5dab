"""Polygons in source-frame pixels: parsing the ``"x1,y1 x2,y2 x3,y3 ..."`` syntax and rasterizing."""

from __future__ import annotations

import re
from collections.abc import Sequence

import cv2
import numpy as np

__all__ = ["Polygon", "format_polygon", "parse_pixel_polygon", "polygon_mask"]

Polygon = list[tuple[int, int]]

_INT = re.compile(r"^[+]?\d+$")


def parse_pixel_polygon(text: str) -> Polygon:
    """Parse ``"x1,y1 x2,y2 x3,y3 ..."`` (pixels of the source frame) into a list of points.

    Points are separated by whitespace, coordinates by one comma; at least three points, each
    coordinate a non-negative integer. Raises ``ValueError`` naming what is wrong.
    """
    if not isinstance(text, str):
        raise ValueError(f"polygon must be a string like '10,10 200,10 200,100', got {type(text).__name__}")
    tokens = text.split()
    if len(tokens) < 3:
        raise ValueError(
            f"polygon {text!r}: needs at least 3 points 'x,y' separated by spaces, got {len(tokens)}"
        )
    points: Polygon = []
    for i, token in enumerate(tokens, 1):
        parts = token.split(",")
        if len(parts) != 2:
            raise ValueError(f"polygon {text!r}: point {i} {token!r} is not of the form 'x,y'")
        coords: list[int] = []
        for part in parts:
            if part.startswith("-") and _INT.match(part[1:]):
                raise ValueError(f"polygon {text!r}: point {i} {token!r} has a negative coordinate")
            if not _INT.match(part):
                raise ValueError(f"polygon {text!r}: point {i} {token!r}: {part!r} is not an integer")
            coords.append(int(part))
        points.append((coords[0], coords[1]))
    return points


def format_polygon(polygon: Sequence[tuple[int, int]]) -> str:
    """The inverse of :func:`parse_pixel_polygon`."""
    return " ".join(f"{x},{y}" for x, y in polygon)


def polygon_mask(polygons: Sequence[Polygon], width: int, height: int, scale: float = 1.0) -> np.ndarray:
    """A uint8 ``height x width`` mask, 255 inside any polygon (scaled by ``scale``), 0 elsewhere.

    ``scale`` maps source pixels to mask pixels (e.g. ``work_width / source_width``). Parts of a
    polygon outside the mask are clipped.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"mask size must be positive, got {width}x{height}")
    mask = np.zeros((height, width), dtype=np.uint8)
    pts = [
        np.round(np.asarray(poly, dtype=np.float64).reshape(-1, 2) * scale).astype(np.int32)
        for poly in polygons
        if len(poly) >= 3
    ]
    if pts:
        cv2.fillPoly(mask, pts, 255)
    return mask
