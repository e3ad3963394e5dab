"""Moved to :mod:`vmsbridge.model.storable`; this name keeps old imports working."""

from vmsbridge.model.storable import (
    MAX_DEPTH,
    MAX_INTEGER_DIGITS,
    escape_strings,
    escape_text,
    inspectable_text,
    unstorable,
)

__all__ = [
    "MAX_DEPTH",
    "MAX_INTEGER_DIGITS",
    "escape_strings",
    "escape_text",
    "inspectable_text",
    "unstorable",
]
