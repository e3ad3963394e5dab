"""What the event store can hold, the same way on SQLite and PostgreSQL.

Device text is escaped rather than refused: PostgreSQL cannot hold NUL in text or JSON, and
neither backend can hold a lone surrogate (text that is not valid Unicode, as a JSON ``"\\udfff"``
escape produces), so each such character is written as the six characters ``\\uXXXX``. The rest
of a device's text, control characters included, is kept as received.

Values that JSON cannot carry faithfully are refused, naming where they are: NaN and the
infinities (PostgreSQL refuses them, SQLite would keep them), integers too long to write as text
and read back, containers nested deeper than any device nests them, and anything that is not a
JSON value at all.
"""

from __future__ import annotations

__all__ = [
    "MAX_DEPTH",
    "MAX_INTEGER_DIGITS",
    "escape_strings",
    "escape_text",
    "inspectable_text",
    "unstorable",
]

import json
import math
import re
from datetime import date, time
from typing import Any

MAX_DEPTH = 32
# Python writes and reads back at most 4,300 digits as text by default; no device counts this high.
MAX_INTEGER_DIGITS = 1000
_INTEGER_LIMIT = 10**MAX_INTEGER_DIGITS
_UNSTORABLE_CHARACTER = re.compile("[\x00\ud800-\udfff]")
_JSON_KEY_SCALARS = (int, float, bool, type(None))


def escape_text(text: str) -> str:
    """``text`` with NUL and lone surrogates written as ``\\uXXXX``; unchanged when it has none."""
    if text.isascii():  # the usual case, and the quickest test
        return text.replace("\x00", "\\u0000") if "\x00" in text else text
    if _UNSTORABLE_CHARACTER.search(text) is None:
        return text
    return _UNSTORABLE_CHARACTER.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def escape_strings(value: Any, depth: int = 0) -> Any:
    """A copy of a JSON-like value with every string (keys too) escaped; tuples become lists.

    Never fails: containers deeper than :data:`MAX_DEPTH` are left as they are, and
    :func:`unstorable` refuses them.
    """
    if isinstance(value, str):
        return escape_text(value)
    if depth >= MAX_DEPTH:
        return value
    if isinstance(value, dict):
        return {
            escape_text(k) if isinstance(k, str) else k: escape_strings(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [escape_strings(v, depth + 1) for v in value]
    return value


def unstorable(value: Any, path: str, depth: int = 0) -> str | None:
    """Why ``value`` (found at ``path``) cannot be stored as JSON, or None when it can."""
    if value is None or isinstance(value, str | bool):
        return None
    if isinstance(value, int):
        return _unstorable_integer(value, path)
    if isinstance(value, float):
        return _unstorable_float(value, path)
    if isinstance(value, dict | list | tuple) and depth >= MAX_DEPTH:
        return f"{path}: nested deeper than {MAX_DEPTH} levels"
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if isinstance(key, str) else f"{path}.{_key_text(key)}"
            if not isinstance(key, str):
                if not isinstance(key, _JSON_KEY_SCALARS):
                    return f"{where}: a key of type {type(key).__name__} is not JSON"
                if problem := unstorable(key, where, depth):
                    return problem
            if problem := unstorable(item, where, depth + 1):
                return problem
        return None
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            if problem := unstorable(item, f"{path}.{i}", depth + 1):
                return problem
        return None
    return f"{path}: {type(value).__name__} is not a JSON value"


def _unstorable_integer(value: int, path: str) -> str | None:
    if -_INTEGER_LIMIT < value < _INTEGER_LIMIT:
        return None
    return f"{path}: an integer longer than {MAX_INTEGER_DIGITS} digits is not kept as a number"


def _unstorable_float(value: float, path: str) -> str | None:
    if math.isfinite(value):
        return None
    name = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return f"{path}: {name} is not a number JSON can carry"


def _key_text(key: object) -> str:
    if isinstance(key, int) and not -_INTEGER_LIMIT < key < _INTEGER_LIMIT:
        return f"<integer of {key.bit_length()} bits>"
    return _readable(key)


def inspectable_text(value: Any) -> str:
    """JSON text of any input, for keeping it where a person can read it. Never fails.

    What JSON cannot write is written readably instead: an integer too long for text in hex,
    a container too deep as a note, any other object by its ``str``. The text is ASCII, so it
    holds no NUL and no lone surrogate raw (``json`` writes them as ``\\u`` escapes).
    """
    try:
        return json.dumps(value, default=_readable, sort_keys=True)
    except Exception:  # the input is what is odd; describe it instead of failing
        return json.dumps(_readable_tree(value, 0))


def _readable(value: object) -> str:
    try:
        return value.isoformat() if isinstance(value, date | time) else str(value)
    except Exception:  # an object whose str() fails is still named
        return f"<{type(value).__name__}>"


def _readable_tree(value: Any, depth: int) -> Any:
    if value is None or isinstance(value, str | bool | float):
        return value
    if isinstance(value, int):
        return value if -_INTEGER_LIMIT < value < _INTEGER_LIMIT else f"<integer {value:#x}>"
    if isinstance(value, dict | list | tuple) and depth >= MAX_DEPTH:
        return f"<nested deeper than {MAX_DEPTH} levels>"
    if isinstance(value, dict):
        return {
            k if isinstance(k, str) else _key_text(k): _readable_tree(v, depth + 1) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_readable_tree(v, depth + 1) for v in value]
    return _readable(value)
