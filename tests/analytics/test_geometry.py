"""Polygon parsing and rasterizing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from analytics.geometry import format_polygon, parse_pixel_polygon, polygon_mask

points = st.tuples(st.integers(0, 100_000), st.integers(0, 100_000))


def test_parse_examples() -> None:
    assert parse_pixel_polygon("10,20 30,40 50,60") == [(10, 20), (30, 40), (50, 60)]
    assert parse_pixel_polygon("  0,0\t100,0\n100,100 0,100 ") == [(0, 0), (100, 0), (100, 100), (0, 100)]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "at least 3 points"),
        ("1,2 3,4", "at least 3 points"),
        ("1,2 3,4 5", "not of the form"),
        ("1,2 3,4 5,6,7", "not of the form"),
        ("1,2 3,4 -5,6", "negative"),
        ("1,2 3,4 5.5,6", "not an integer"),
        ("1,2 3,4 a,6", "not an integer"),
        ("1;2 3;4 5;6", "not of the form"),
    ],
)
def test_parse_rejects(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse_pixel_polygon(text)


@given(st.lists(points, min_size=3, max_size=12))
def test_round_trip(poly: list[tuple[int, int]]) -> None:
    assert parse_pixel_polygon(format_polygon(poly)) == poly


@given(st.text(max_size=40))
def test_garbage_is_value_error_or_valid(text: str) -> None:
    # any string either parses into >= 3 non-negative integer points or raises ValueError (nothing else)
    try:
        poly = parse_pixel_polygon(text)
    except ValueError as exc:
        message = str(exc)
    else:
        message = ""
        assert len(poly) >= 3
        assert all(isinstance(v, int) and v >= 0 for pt in poly for v in pt)
    assert not message or "polygon" in message


@given(st.lists(st.sampled_from("0123456789, -.x;"), min_size=1, max_size=30).map("".join))
def test_near_miss_garbage(text: str) -> None:
    try:
        poly = parse_pixel_polygon(text)
    except ValueError:
        return
    assert format_polygon(poly) == " ".join(
        f"{int(a)},{int(b)}" for a, b in (tok.split(",") for tok in text.split())
    )


def test_polygon_mask_scaled() -> None:
    mask = polygon_mask([[(100, 100), (300, 100), (300, 200), (100, 200)]], 160, 90, scale=0.25)
    assert mask.shape == (90, 160)
    assert mask.dtype == np.uint8
    assert set(np.unique(mask)) == {0, 255}
    ys, xs = np.nonzero(mask)
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (25, 75, 25, 50)
    assert not polygon_mask([], 10, 10).any()
    with pytest.raises(ValueError, match="positive"):
        polygon_mask([], 0, 10)
