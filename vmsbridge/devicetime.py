"""Moved to :mod:`vmsbridge.model.devicetime`; this name keeps old imports working."""

from vmsbridge.model.devicetime import (
    CLOCK_SUSPECT,
    DEVICE_TIME,
    DeviceTime,
    believable,
    date_event,
    duration_text,
    to_utc,
)

__all__ = [
    "CLOCK_SUSPECT",
    "DEVICE_TIME",
    "DeviceTime",
    "believable",
    "date_event",
    "duration_text",
    "to_utc",
]
