"""When a device's own time may date an event, and what the event carries when it may not.

A device says when something happened by its clock; the bridge stamps when it received it by
its own. A device time that is out of range once in UTC (year 9999 at UTC-14:00), before
:data:`~vmsbridge.model.events.EARLIEST_PLAUSIBLE`, or more than
:data:`~vmsbridge.model.events.MAX_CLOCK_LEAD` after receipt is not believed, and never costs the
event: it is dated at its receipt, keeps the device's value as ``device_time`` and is flagged
``clock_suspect`` (camera health lists devices with such events). Imported files get no such
grace: a line with such a time is rejected.
"""

from __future__ import annotations

__all__ = [
    "CLOCK_SUSPECT",
    "DEVICE_TIME",
    "DeviceTime",
    "believable",
    "date_event",
    "duration_text",
    "to_utc",
]

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from vmsbridge.model.events import EARLIEST_PLAUSIBLE, MAX_CLOCK_LEAD

CLOCK_SUSPECT = "clock_suspect"  # event attribute: the device's time was not used
DEVICE_TIME = "device_time"  # event attribute: the device's time as it gave it
_MAX_SHOWN = 100  # a device time is short; anything longer is kept cut


def to_utc(value: datetime) -> datetime | None:
    """``value`` in UTC (naive counts as UTC); None when that is outside years 1-9999."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        return None


def believable(value: datetime, received_at: datetime) -> bool:
    """Whether a device's ``value`` (aware, in range) can be when something received at
    ``received_at`` happened."""
    return value >= EARLIEST_PLAUSIBLE and value - received_at <= MAX_CLOCK_LEAD


def duration_text(value: timedelta) -> str:
    """``1 day``, ``5 minutes``: a whole span as people write it."""
    seconds = int(value.total_seconds())
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} seconds"


@dataclass(frozen=True)
class DeviceTime:
    occurred_at: datetime
    suspect: bool = False
    attributes: Mapping[str, object] = field(default_factory=dict)  # to add to the event's own


def date_event(
    device_time: datetime | str | None,
    received_at: datetime,
    skew: timedelta = timedelta(0),
    *,
    as_sent: str | None = None,
) -> DeviceTime:
    """When an event happened, from the device's time for it and our receipt time.

    ``device_time``: a time read from the device (its clock runs ``skew`` ahead of ours), the
    text it sent when that could not be read as a time, or None when it gave none (then the
    receipt time is used and nothing is suspect). ``as_sent``: the device's own text for the
    time, kept instead of the parsed value when the time is not believed.
    """
    if device_time is None:
        return DeviceTime(received_at)
    if isinstance(device_time, datetime):
        utc = to_utc(device_time)
        if utc is not None:
            try:
                ours = utc - skew
            except OverflowError:
                pass
            else:
                if believable(ours, received_at):
                    return DeviceTime(ours)
        shown = as_sent or device_time.isoformat()
    else:
        shown = as_sent or device_time
    return DeviceTime(received_at, True, {CLOCK_SUSPECT: True, DEVICE_TIME: shown[:_MAX_SHOWN]})
