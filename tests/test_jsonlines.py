"""Reading JSON Lines from outside the bridge: line numbers, the size cap, the parse limits."""

from __future__ import annotations

import io

import pytest

from vmsbridge.jsonlines import LineRefused, nesting_depth, numbered_lines, parse_line


def test_lines_are_numbered_and_one_over_the_cap_is_skipped_to_its_end() -> None:
    stream = io.BytesIO(b"12345678\n" + b"9" * 30 + b"\r\n\nlast")
    assert list(numbered_lines(stream, max_bytes=9)) == [(1, b"12345678"), (2, None), (3, b""), (4, b"last")]


def test_nesting_depth_counts_lists_and_objects_without_recursion() -> None:
    assert nesting_depth(1) == 0
    assert nesting_depth({"a": [1, {"b": []}]}) == 4
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    assert nesting_depth(deep) == 100_001


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"a": -' + b"9" * 4301 + b"}", "a number of 4301 digits (at most 4300)"),
        (b'{"a": -Infinity}', "not JSON: -Infinity is not a JSON value"),
        (b'{"a": [[1]]}', "nested deeper than 2 levels"),
        (b'{"a": 1', "not JSON: Expecting ',' delimiter: line 1 column 8 (char 7)"),
    ],
)
def test_what_is_refused_says_why_without_the_content(raw: bytes, reason: str) -> None:
    with pytest.raises(LineRefused) as refused:
        parse_line(raw, max_depth=2)
    assert str(refused.value) == reason


def test_lone_surrogates_are_left_to_ingest() -> None:
    assert parse_line(b'{"a": "\\udfff"}') == {"a": "\udfff"}
