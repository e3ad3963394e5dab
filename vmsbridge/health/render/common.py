"""What the health report's formats share: time and span helpers, state names, camera order."""

from __future__ import annotations

__all__ = ["LOCATION_STATE_NAMES", "counted_until", "iso", "minutes", "natural_key", "span_dict"]

import re
from datetime import datetime
from typing import Any

from vmsbridge.health.intervals import State, StateSpan

LOCATION_STATE_NAMES = {State.DOWN: "gap", State.DEGRADED: "degraded", State.UNKNOWN: "unknown"}


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def minutes(span: StateSpan, until: datetime) -> float:
    return round(span.interval.seconds(until) / 60.0, 3)


def counted_until(end: datetime | None, until: datetime) -> datetime:
    return until if end is None else min(end, until)


def span_dict(span: StateSpan, until: datetime, *, location: bool = False) -> dict[str, Any]:
    return {
        "state": LOCATION_STATE_NAMES[span.state] if location else span.state.value,
        "start": iso(span.start),
        "end": iso(span.end),  # None: not ended by the window's end
        "open": span.end is None,
        "counted_until": iso(counted_until(span.end, until)),
        "minutes": minutes(span, until),
        "causes": sorted(span.causes),
    }


def natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """cam-2 before cam-10: digit runs compare as numbers."""
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", text) if part)
