"""What each ONVIF event topic means: one table of small parser functions, keyed by topic.

A parser turns a :class:`Notification` into a :class:`Reading` (an event kind about a token on
the device) or ``None`` when the message carries nothing worth reporting (a door alarm returning
to ``Normal``). Mapping tokens to site devices is the event source's job, not this module's.
Parsers do no I/O and never raise on odd input: a message they cannot read is ``onvif.unknown``.
"""

from __future__ import annotations

__all__ = [
    "FALSE_SPELLINGS",
    "STATE_ITEMS",
    "TOPICS",
    "TRUE_SPELLINGS",
    "Reading",
    "Subject",
    "TopicRegistry",
    "read_notification",
]

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from connectors.onvif.messages import Notification
from vmsbridge.model import EventKind

SubjectRole = Literal[
    "input", "relay", "video_source", "video_source_config", "door", "access_point", "device"
]


@dataclass(frozen=True)
class Subject:
    """Which part of the device an event is about, by the device's own token."""

    role: SubjectRole
    token: str


@dataclass(frozen=True)
class Reading:
    """What a notification says. ``kind`` None: a property state worth tracking but not reporting
    (a tamper alarm clearing), so that the next alarm is recognised as a change."""

    kind: EventKind | None
    subject: Subject
    # For property topics: the state, so a re-sync that repeats a known state is not a new event.
    state: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def is_property(self) -> bool:
        return self.state is not None


Parser = Callable[[Notification], Reading]


class TopicRegistry:
    def __init__(self) -> None:
        self._parsers: dict[str, Parser] = {}
        self._prefixes: list[tuple[str, Parser]] = []

    def register(self, *topics: str) -> Callable[[Parser], Parser]:
        """Register a parser for exact topics, or for every topic under ``prefix/*``."""

        def decorate(parser: Parser) -> Parser:
            for topic in topics:
                if topic.endswith("/*"):
                    self._prefixes.append((topic[:-1], parser))
                else:
                    self._parsers[topic] = parser
            return parser

        return decorate

    def parser_for(self, topic: str) -> Parser | None:
        if parser := self._parsers.get(topic):
            return parser
        return next((p for prefix, p in self._prefixes if topic.startswith(prefix)), None)

    @property
    def topics(self) -> list[str]:
        return sorted([*self._parsers, *(prefix + "*" for prefix, _ in self._prefixes)])


TOPICS = TopicRegistry()

# How devices name the data item that carries a boolean state, per kind of topic: the name the
# ONVIF topic description uses first, then the names firmware in the field sends instead (an
# independent device implementation sends DigitalInput with ``State``). Names match in any case.
STATE_ITEMS: Final[dict[str, tuple[str, ...]]] = {
    "input": ("LogicalState", "State", "Value", "Active", "IsActive"),
    "relay": ("LogicalState", "State", "Value", "Active", "IsActive"),
    "motion": ("State", "IsMotion", "Motion", "Value", "Active"),
    "cell_motion": ("IsMotion", "State", "Motion", "Value", "Active"),
    "signal_loss": ("State", "IsSignalLoss", "Value", "Active"),
    "tamper": ("State", "IsTamper", "Tamper", "Value", "Active"),
}
# How devices spell the value of such an item (compared in lower case).
TRUE_SPELLINGS: Final = frozenset({"true", "1", "on", "active", "high", "yes"})
FALSE_SPELLINGS: Final = frozenset({"false", "0", "off", "inactive", "low", "no"})


def _flag(value: str | None) -> bool | None:
    if value is None:
        return None
    lowered = value.strip().lower()
    return True if lowered in TRUE_SPELLINGS else False if lowered in FALSE_SPELLINGS else None


def _state_item(data: dict[str, str], names: tuple[str, ...]) -> tuple[str, bool] | None:
    """The first of ``names`` present in ``data`` (any case) with a boolean value, and that value."""
    by_lower = {key.lower(): key for key in data}
    for name in names:
        key = by_lower.get(name.lower())
        if key is not None and (state := _flag(data[key])) is not None:
            return key, state
    return None


def unknown(n: Notification, why: str = "no parser for this topic") -> Reading:
    return Reading(
        EventKind.ONVIF_UNKNOWN,
        Subject("device", ""),
        attributes={"topic": n.topic, "why": why, "source": dict(n.source), "data": dict(n.data)},
    )


def read_notification(n: Notification) -> Reading:
    """The one entry point: never raises; what no parser understands becomes ``onvif.unknown``."""
    parser = TOPICS.parser_for(n.topic)
    if parser is None:
        return unknown(n)
    try:
        return parser(n)
    except (KeyError, ValueError, TypeError) as exc:
        return unknown(n, f"parser failed: {type(exc).__name__}: {exc}")


def _boolean_property(
    n: Notification, *, subject: Subject, items: str, on: EventKind, off: EventKind | None
) -> Reading:
    found = _state_item(n.data, STATE_ITEMS[items])
    if found is None:
        names = ", ".join(STATE_ITEMS[items])
        return unknown(n, f"no boolean state: none of the data items {names} is true/false, on/off, 1/0 ...")
    _, state = found
    return Reading(on if state else off, subject, state="true" if state else "false")


@TOPICS.register("tns1:Device/Trigger/DigitalInput")
def digital_input(n: Notification) -> Reading:
    return _boolean_property(
        n,
        subject=Subject("input", n.source["InputToken"]),
        items="input",
        on=EventKind.INPUT_ACTIVE,
        off=EventKind.INPUT_INACTIVE,
    )


@TOPICS.register("tns1:Device/Trigger/Relay")
def relay(n: Notification) -> Reading:
    return _boolean_property(
        n,
        subject=Subject("relay", n.source["RelayToken"]),
        items="relay",
        on=EventKind.RELAY_ACTIVE,
        off=EventKind.RELAY_INACTIVE,
    )


@TOPICS.register("tns1:VideoSource/MotionAlarm")
def motion_alarm(n: Notification) -> Reading:
    return _boolean_property(
        n,
        subject=Subject("video_source", n.source["Source"]),
        items="motion",
        on=EventKind.MOTION_START,
        off=EventKind.MOTION_STOP,
    )


@TOPICS.register("tns1:RuleEngine/CellMotionDetector/Motion")
def cell_motion(n: Notification) -> Reading:
    reading = _boolean_property(
        n,
        subject=Subject("video_source_config", n.source["VideoSourceConfigurationToken"]),
        items="cell_motion",
        on=EventKind.MOTION_START,
        off=EventKind.MOTION_STOP,
    )
    if reading is not None and (rule := n.source.get("Rule")):
        reading.attributes["rule"] = rule
    return reading


@TOPICS.register("tns1:VideoSource/SignalLoss")
def signal_loss(n: Notification) -> Reading:
    return _boolean_property(
        n,
        subject=Subject("video_source", n.source["Source"]),
        items="signal_loss",
        on=EventKind.CAMERA_SIGNAL_LOSS,
        off=EventKind.CAMERA_SIGNAL_RESTORED,
    )


@TOPICS.register(
    "tns1:VideoSource/GlobalSceneChange/ImagingService",
    "tns1:VideoSource/GlobalSceneChange/AnalyticsService",
    "tns1:VideoSource/GlobalSceneChange/RecordingService",
)
def scene_change(n: Notification) -> Reading:
    reading = _boolean_property(
        n,
        subject=Subject("video_source", n.source["Source"]),
        items="tamper",
        on=EventKind.CAMERA_TAMPER,
        off=EventKind.CAMERA_TAMPER_CLEARED,
    )
    return _tamper_state(reading, n.topic.rsplit("/", 1)[-1])


@TOPICS.register("tns1:RuleEngine/TamperDetector/Tamper", "tns1:RuleEngine/CellMotionDetector/Tamper")
def vendor_tamper(n: Notification) -> Reading:
    token = n.source.get("VideoSourceConfigurationToken") or n.source["Source"]
    role: SubjectRole = (
        "video_source_config" if "VideoSourceConfigurationToken" in n.source else "video_source"
    )
    reading = _boolean_property(
        n,
        subject=Subject(role, token),
        items="tamper",
        on=EventKind.CAMERA_TAMPER,
        off=EventKind.CAMERA_TAMPER_CLEARED,
    )
    return _tamper_state(reading, n.topic)


def _tamper_state(reading: Reading, detector: str) -> Reading:
    """A tamper property's reading, with its ``state``: camera health holds the view as tampered
    from ``true`` until the same detector's ``camera.tamper_cleared`` (``false``), not for a guessed
    time. The clear is its own kind so it never opens an incident or fires a tamper rule."""
    if reading.kind in (EventKind.CAMERA_TAMPER, EventKind.CAMERA_TAMPER_CLEARED):
        reading.attributes["detector"] = detector
        reading.attributes["state"] = reading.kind is EventKind.CAMERA_TAMPER
    return reading


@TOPICS.register("tns1:AccessControl/AccessGranted/*")
def access_granted(n: Notification) -> Reading:
    # Only the credential token: the holder's name is personal data the event log does not need.
    attributes = {"credential": n.data.get("CredentialToken", ""), "via": n.topic.rsplit("/", 1)[-1]}
    return Reading(
        EventKind.ACCESS_GRANTED, Subject("access_point", n.source["AccessPointToken"]), None, attributes
    )


@TOPICS.register("tns1:AccessControl/Denied/*")
def access_denied(n: Notification) -> Reading:
    attributes = {
        "credential": n.data.get("CredentialToken", ""),
        "reason": n.data.get("Reason", ""),
        "via": n.topic.removeprefix("tns1:AccessControl/Denied/"),
    }
    return Reading(
        EventKind.ACCESS_DENIED, Subject("access_point", n.source["AccessPointToken"]), None, attributes
    )


_DOOR_ALARM = {"DoorForcedOpen": EventKind.DOOR_FORCED, "DoorOpenTooLong": EventKind.DOOR_HELD_OPEN}
_DOOR_PHYSICAL = {"Open": EventKind.DOOR_OPENED, "Closed": EventKind.DOOR_CLOSED}


@TOPICS.register("tns1:Door/State/DoorAlarm")
def door_alarm(n: Notification) -> Reading:
    state = n.data["State"]
    subject = Subject("door", n.source["DoorToken"])
    if state in _DOOR_ALARM:
        return Reading(_DOOR_ALARM[state], subject, state)
    if state == "Normal":
        return Reading(None, subject, state)
    return unknown(n, f"door alarm state {state!r}")


@TOPICS.register("tns1:Door/State/DoorPhysicalState")
def door_physical(n: Notification) -> Reading:
    state = n.data["State"]
    # Unknown / Fault describe the door's sensor, not the door: tracked, not reported.
    return Reading(_DOOR_PHYSICAL.get(state), Subject("door", n.source["DoorToken"]), state)
