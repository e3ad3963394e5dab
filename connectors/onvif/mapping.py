"""From device readings to site events: tokens to site devices, and property bookkeeping.

A property (an input's level, a door's alarm state) is reported by ONVIF both when it changes
(``Changed``) and whenever a subscription starts or re-synchronizes (``Initialized``). Only a real
change is an event: re-sent states are recognised and skipped, so a reconnect never produces a
second phone pickup; the first state seen after start-up is a baseline, not an event.
"""

from __future__ import annotations

__all__ = ["DeviceMap", "PropertyStates", "build_event"]

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime

from connectors.onvif.client import MediaProfile
from connectors.onvif.config import OnvifSource
from connectors.onvif.messages import Notification
from connectors.onvif.topics import Reading, Subject
from vmsbridge.config import SiteDirectory
from vmsbridge.model import Event, EventKind

MAX_RAW_CHARS = 32 * 1024  # enough for any real notification; a hostile one is cut, not stored whole


class DeviceMap:
    """Which site device each token of one ONVIF device belongs to, and what its inputs mean."""

    def __init__(self, connector: OnvifSource, directory: SiteDirectory) -> None:
        site = directory.site
        self.connector_id = connector.id
        self.source = f"onvif:{connector.id}"
        # What no site device owns is filed under the connector itself: kept as an event if the
        # connector has a location, else kept by ingest as rejected input. Never dropped.
        self.fallback_device = connector.id
        self.cameras_by_profile = {
            c.source.profile: c.id
            for c in site.cameras
            if c.source.connector == connector.id and c.source.profile
        }
        self.camera_ids = sorted(self.cameras_by_profile.values())
        self.inputs = {
            i.token: (i.device, i.active, i.inactive)
            for m in site.io_modules
            if m.connector == connector.id
            for i in m.inputs
        }
        self.relay_owner = next((m.id for m in site.io_modules if m.connector == connector.id), None)
        self.doors = {d.token: d.id for d in site.doors if d.connector == connector.id}
        self.access_points = {d.access_point_token: d.id for d in site.doors if d.connector == connector.id}
        self.by_video_source: dict[str, str] = {}
        self.by_video_source_config: dict[str, str] = {}

    def learn_profiles(self, profiles: Iterable[MediaProfile]) -> None:
        """Motion and tamper events name video sources, not profiles: learn which is which."""
        for profile in profiles:
            camera = self.cameras_by_profile.get(profile.token)
            if camera is None:
                continue
            if profile.video_source:
                self.by_video_source[profile.video_source] = camera
            if profile.video_source_config:
                self.by_video_source_config[profile.video_source_config] = camera

    def resolve(self, reading: Reading) -> tuple[str, EventKind | None, dict[str, str]]:
        """(site device id, event kind, notes) for a reading."""
        subject, kind = reading.subject, reading.kind
        notes: dict[str, str] = {}
        device: str | None = None
        match subject.role:
            case "input":
                if subject.token in self.inputs:
                    device, active, inactive = self.inputs[subject.token]
                    if kind is EventKind.INPUT_ACTIVE:
                        kind = active
                    elif kind is EventKind.INPUT_INACTIVE and inactive is not None:
                        kind = inactive
            case "relay":
                device = self.relay_owner
            case "video_source":
                device = self.by_video_source.get(subject.token)
            case "video_source_config":
                device = self.by_video_source_config.get(subject.token)
            case "door":
                device = self.doors.get(subject.token)
            case "access_point":
                device = self.access_points.get(subject.token)
            case "device":
                device = self.fallback_device
        if device is None:
            if subject.role != "device":
                notes = {"unmapped_" + subject.role: subject.token}
            return self.fallback_device, kind, notes
        return device, kind, notes


MAX_TRACKED_PROPERTIES = 10_000  # a device inventing tokens cannot grow memory without bound


class PropertyStates:
    """Last known state of each property of one device (kept across resubscriptions).

    Changes are staged by :meth:`is_news` and kept only on :meth:`commit`, which the source calls
    once the resulting events are durable: a state whose event was never stored is not "known".
    """

    def __init__(self) -> None:
        self._states: dict[tuple[str, Subject], str] = {}
        self._staged: dict[tuple[str, Subject], str | None] = {}

    def is_news(self, topic: str, reading: Reading, operation: str | None, *, alarm: bool) -> bool:
        """``alarm``: the reading's mapped kind is an alarm in itself (``ALARM_STATE_KINDS``)."""
        key = (topic, reading.subject)
        previous = self._staged[key] if key in self._staged else self._states.get(key)
        if operation == "Deleted":
            self._staged[key] = None
            return False
        assert reading.state is not None
        self._staged[key] = reading.state
        if previous is None:
            # First sight. A Changed message is a real transition. An Initialized one only says
            # how things are: a resting state (handset on hook, door closed) is a baseline, but an
            # alarm state is reported, because we cannot tell whether it began before we were
            # listening or during a gap, and a missed pickup costs more than a late one.
            return operation != "Initialized" or alarm
        return previous != reading.state

    def commit(self) -> None:
        for key, state in self._staged.items():
            if state is None:
                self._states.pop(key, None)
            elif key in self._states or len(self._states) < MAX_TRACKED_PROPERTIES:
                self._states[key] = state
        self._staged.clear()

    def rollback(self) -> None:
        self._staged.clear()


def native_id(notification: Notification, fallback: str = "") -> str:
    """Stable across re-delivery of the same message, different for different messages.

    A message without a usable device time cannot be told from an earlier identical one, so the
    caller passes ``fallback`` (receipt time and a sequence number) to keep both.
    """
    stamp = notification.utc_time.isoformat() if notification.utc_time else fallback
    key = json.dumps(
        [notification.topic, sorted(notification.source.items()), sorted(notification.data.items()), stamp]
    )
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def build_event(
    device_map: DeviceMap,
    notification: Notification,
    reading: Reading,
    *,
    occurred_at: datetime,
    received_at: datetime,
    id_fallback: str = "",
) -> Event | None:
    """The core event for a reading; None for a state that is tracked but not reported."""
    device, kind, notes = device_map.resolve(reading)
    if kind is None:
        return None
    attributes = {**reading.attributes, **notes, "topic": notification.topic}
    if notification.operation:
        attributes["operation"] = notification.operation
    return Event(
        source=device_map.source,
        native_id=native_id(notification, id_fallback),
        kind=kind,
        device_id=device,
        occurred_at=occurred_at,
        received_at=received_at,
        attributes=attributes,
        raw=notification.raw[:MAX_RAW_CHARS] if kind is EventKind.ONVIF_UNKNOWN else None,
    )
