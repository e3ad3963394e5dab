"""Events: what connectors produce, what ingest accepts or rejects, and what the store returns.

Connectors produce :class:`Event`; the store returns :class:`StoredEvent`. Nothing here does I/O.
"""

from __future__ import annotations

__all__ = [
    "ALARM_STATE_KINDS",
    "ANALYTICS_SOURCE_PREFIX",
    "EARLIEST_PLAUSIBLE",
    "MAX_CLOCK_LEAD",
    "MAX_ID_LENGTH",
    "AcceptedEvent",
    "CleryGeography",
    "Event",
    "EventKey",
    "EventKind",
    "IngestOutcome",
    "LogPosition",
    "RejectedInput",
    "StoredEvent",
    "UnreadableEvent",
]

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from vmsbridge.model.storable import escape_strings, escape_text


class CleryGeography(StrEnum):
    """Clery Act geography of a location (34 CFR 668.46(a)); ``outside`` is reported nowhere."""

    ON_CAMPUS = "on_campus"
    NONCAMPUS = "noncampus"
    PUBLIC_PROPERTY = "public_property"
    PATROL_JURISDICTION = "patrol_jurisdiction"
    OUTSIDE = "outside"


class EventKind(StrEnum):
    """The closed vocabulary every connector normalizes into."""

    PHONE_OFFHOOK = "phone.offhook"
    PHONE_ONHOOK = "phone.onhook"
    DOOR_FORCED = "door.forced"
    DOOR_HELD_OPEN = "door.held_open"
    DOOR_OPENED = "door.opened"
    DOOR_CLOSED = "door.closed"
    ACCESS_DENIED = "access.denied"
    ACCESS_GRANTED = "access.granted"
    MOTION_START = "motion.start"
    MOTION_STOP = "motion.stop"
    CAMERA_SIGNAL_LOSS = "camera.signal_loss"
    CAMERA_SIGNAL_RESTORED = "camera.signal_restored"
    CAMERA_TAMPER = "camera.tamper"
    CAMERA_TAMPER_CLEARED = "camera.tamper_cleared"  # a stateful tamper alarm (ONVIF property) went off
    CAMERA_COMM_LOST = "camera.comm_lost"
    CAMERA_COMM_RESTORED = "camera.comm_restored"
    # The bridge's own recorder lost the camera's RTSP stream (the camera may still answer SOAP).
    CAMERA_STREAM_LOST = "camera.stream_lost"
    CAMERA_STREAM_RESTORED = "camera.stream_restored"
    CAMERA_RECORDING_STOPPED = "camera.recording_stopped"
    CAMERA_RECORDING_STARTED = "camera.recording_started"
    CAMERA_OFFLINE = "camera.offline"  # raised by vmsbridge.health: down longer than [health] allows
    CAMERA_ONLINE = "camera.online"  # raised by vmsbridge.health: back up after a camera.offline
    INPUT_ACTIVE = "input.active"
    INPUT_INACTIVE = "input.inactive"
    RELAY_ACTIVE = "relay.active"
    RELAY_INACTIVE = "relay.inactive"
    VMS_ALARM = "vms.alarm"
    VMS_USER_EVENT = "vms.user_event"
    VMS_UNKNOWN = "vms.unknown"
    VMS_GAP = "vms.gap"  # the bridge could not see the VMS's events for a while (attributes: from, to)
    ONVIF_UNKNOWN = "onvif.unknown"


# States that are alarms in themselves. A connector that first learns a state from a re-sync
# (ONVIF Initialized, XProtect getState) reports these, because it cannot tell whether they began
# before it was listening or during a gap; resting states (on hook, closed, not recording, which
# is normal for motion-triggered recording) are only a baseline.
ALARM_STATE_KINDS = frozenset(
    {
        EventKind.PHONE_OFFHOOK,
        EventKind.INPUT_ACTIVE,
        EventKind.MOTION_START,
        EventKind.CAMERA_SIGNAL_LOSS,
        EventKind.CAMERA_TAMPER,
        EventKind.CAMERA_COMM_LOST,
        EventKind.DOOR_FORCED,
        EventKind.DOOR_HELD_OPEN,
        EventKind.DOOR_OPENED,
    }
)


# Events the bridge derives from its own analysis of footage (not reported by a device) carry a
# source starting with this; they join incidents but never open one by themselves.
ANALYTICS_SOURCE_PREFIX = "analytics:"


# A device clock more than a day ahead of our receipt time is broken, not early; and nothing a
# campus system reports predates this project's oldest plausible footage.
MAX_CLOCK_LEAD = timedelta(days=1)
EARLIEST_PLAUSIBLE = datetime(2000, 1, 1, tzinfo=UTC)
MAX_ID_LENGTH = 200


class Event(BaseModel):
    """One normalized device or VMS event, immutable from the moment a connector builds it.

    ``(source, native_id)`` identifies it across replays: a connector that re-sends an event
    (reconnect, re-sync, crash recovery) must give it the same ``native_id``. Its text is what
    every store can hold: NUL and lone surrogates are escaped (see :mod:`vmsbridge.model.storable`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    source: str = Field(
        min_length=1, max_length=MAX_ID_LENGTH, description="connector id, e.g. 'onvif:io-north'"
    )
    native_id: str = Field(min_length=1, max_length=MAX_ID_LENGTH, description="id unique within the source")
    kind: EventKind
    device_id: str = Field(min_length=1, max_length=MAX_ID_LENGTH, description="site device id")
    occurred_at: AwareDatetime = Field(description="when the device says it happened (skew-corrected)")
    received_at: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
    attributes: dict[str, Any] = Field(default_factory=dict, description="kind-specific details")
    raw: str | None = Field(default=None, description="the payload as received, for inspection")

    # Before validation, so that length limits apply to the text as it will be stored.
    @field_validator("source", "native_id", "device_id", "raw", mode="before")
    @classmethod
    def _storable_text(cls, value: object) -> object:
        return escape_text(value) if isinstance(value, str) else value

    @field_validator("kind", mode="before")
    @classmethod
    def _kind_is_text(cls, value: object) -> object:
        # Anything else would reach the enum's own error message, which repr()s it whole (a
        # 100,000-level list or a 5,000-digit number cannot be repr()ed).
        if not isinstance(value, str):
            raise ValueError(f"must be text naming an event kind, not {type(value).__name__}")
        return value

    @field_validator("attributes", mode="before")
    @classmethod
    def _storable_attributes(cls, value: object) -> object:
        return escape_strings(dict(value)) if isinstance(value, Mapping) else value

    @field_validator("occurred_at", "received_at")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        try:
            return value.astimezone(UTC)
        except OverflowError:  # year 9999 at UTC-14:00, year 1 at UTC+14:00
            raise ValueError(f"{value.isoformat()} is out of range once converted to UTC") from None

    @model_validator(mode="after")
    def _plausible_time(self) -> Event:
        if self.occurred_at < EARLIEST_PLAUSIBLE:
            raise ValueError(
                f"occurred_at {self.occurred_at.isoformat()} is before {EARLIEST_PLAUSIBLE.year}"
            )
        if self.occurred_at - self.received_at > MAX_CLOCK_LEAD:
            raise ValueError(
                f"occurred_at {self.occurred_at.isoformat()} is more than {MAX_CLOCK_LEAD} after "
                f"received_at {self.received_at.isoformat()}: device clock is wrong"
            )
        return self


@dataclass(frozen=True)
class StoredEvent:
    """An event as the store holds it: with its row id and the location it resolved to."""

    id: int
    source: str
    native_id: str
    kind: EventKind
    device_id: str
    location_id: str
    occurred_at: datetime
    received_at: datetime
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class IngestOutcome:
    """What the ingest stage did with one published payload; given only once it is durable."""

    status: Literal["stored", "duplicate", "rejected"]
    event_id: int | None = None
    reason: str | None = None


@dataclass(frozen=True)
class AcceptedEvent:
    event: Event
    location_id: str


@dataclass(frozen=True)
class RejectedInput:
    source: str | None
    reason: str
    payload: str


EventKey = tuple[str, str]
LogPosition = tuple[int, int]  # (inserting transaction, event id): commit-safe order, see migration 0002


@dataclass(frozen=True)
class UnreadableEvent:
    """A stored event row that does not make a :class:`StoredEvent` (a kind this version does not
    know, a value of the wrong type): a log follower sets it aside rather than stop on it."""

    id: int
    error: str
    message: str
