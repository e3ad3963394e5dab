"""JSON Lines from outside the bridge: numbered, size-capped, and parsed within limits.

A file someone hands to an import may hold anything: bytes that are not UTF-8, lines of
gigabytes, a number of 5,000 digits, arrays nested 100,000 deep. Each such line is refused with
a reason that names it (:class:`LineRefused`), and the lines around it are read as usual.
"""

from __future__ import annotations

__all__ = ["MAX_DEPTH", "MAX_LINE_BYTES", "LineRefused", "nesting_depth", "numbered_lines", "parse_line"]

import json
import math
import sys
from collections.abc import Iterator
from typing import IO, Any

MAX_LINE_BYTES = 1024 * 1024
MAX_DEPTH = 64  # arrays and objects within each other; real payloads use a handful


class LineRefused(ValueError):
    """A line that cannot be taken as JSON; ``str()`` is the reason, without the line's content."""


def numbered_lines(stream: IO[bytes], max_bytes: int = MAX_LINE_BYTES) -> Iterator[tuple[int, bytes | None]]:
    """Each line (without its line break) and its number from 1; None for a line longer than
    ``max_bytes``, which is skipped to its end without being held in memory."""
    number = 0
    while chunk := stream.readline(max_bytes + 1):
        number += 1
        if len(chunk) > max_bytes and not chunk.endswith(b"\n"):
            while (rest := stream.readline(max_bytes + 1)) and not rest.endswith(b"\n"):
                pass
            yield number, None
            continue
        yield number, chunk.rstrip(b"\r\n")


def parse_line(raw: bytes, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value of one line; :class:`LineRefused` when it is not UTF-8, not JSON, holds a
    number beyond range (NaN, Infinity, 1e999, more digits than Python converts) or nests deeper
    than ``max_depth``."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LineRefused(f"not UTF-8 text (byte {exc.start})") from None
    try:
        value = json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except json.JSONDecodeError as exc:
        raise LineRefused(f"not JSON: {exc}") from None
    except RecursionError:
        raise LineRefused(f"nested deeper than {max_depth} levels") from None
    if nesting_depth(value) > max_depth:
        raise LineRefused(f"nested deeper than {max_depth} levels")
    return value


def nesting_depth(value: Any) -> int:
    """How deeply lists and dicts sit within each other in ``value`` (a scalar: 0), without recursion."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth + 1)
        pending.extend((child, depth + 1) for child in children)
    return deepest


def _int(text: str) -> int:
    digits = len(text.lstrip("-"))
    limit = sys.get_int_max_str_digits()
    if limit and digits > limit:
        raise LineRefused(f"a number of {digits} digits (at most {limit})")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise LineRefused(f"a number out of range ({text[:40]})")
    return value


def _constant(text: str) -> float:
    raise LineRefused(f"not JSON: {text} is not a JSON value")
