"""Raising events on an emulated device: :meth:`fire` and its wrappers (inputs, relays, motion,
doors, access control), the remembered property states and the per pull point queues.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from connectors.onvif.emulator.soap import _bool
from connectors.onvif.emulator.spec import DOOR_ALARM_STATES, DOOR_PHYSICAL_STATES
from connectors.onvif.emulator.state import DeviceState, _PullPoint
from connectors.onvif.emulator.topics import _Notification, is_property_topic

__all__ = ["EventTriggers"]


class EventTriggers(DeviceState):
    """Events fired in process or through the control surface, queued to every live pull point."""

    def fire(
        self,
        topic: str,
        source: dict[str, str],
        data: dict[str, str],
        *,
        operation: str = "Changed",
        utc_time: datetime | None = None,
        is_property: bool | None = None,
    ) -> None:
        """Queue one notification to every live pull point.

        Property topics (see :func:`is_property_topic`, or ``is_property=True``) are remembered
        per (topic, source items) and re-sent as "Initialized" on SetSynchronizationPoint and to
        new subscriptions; operation "Deleted" forgets the state. Non-property messages carry no
        PropertyOperation attribute.
        """
        if not topic:
            raise ValueError("topic must not be empty")
        prop = is_property_topic(topic) if is_property is None else is_property
        when = utc_time if utc_time is not None else self._event_time()
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        note = _Notification(
            topic=topic,
            source=tuple((str(k), str(v)) for k, v in source.items()),
            data=tuple((str(k), str(v)) for k, v in data.items()),
            utc_time=when,
            operation=operation if prop else None,
        )
        if prop:
            key = (topic, note.source)
            if operation == "Deleted":
                self._states.pop(key, None)
            else:
                self._states[key] = note
        self._expire_pull_points()
        for pull_point in self._pull_points.values():
            self._enqueue(pull_point, [note])

    def _event_time(self) -> datetime:
        now = self.device_now()
        if self.quirks.whole_second_clock:
            return (now + timedelta(milliseconds=500)).replace(microsecond=0)
        return now

    def _enqueue(self, pull_point: _PullPoint, notes: Iterable[_Notification]) -> None:
        for note in notes:
            pull_point.queue.append(note)
            while len(pull_point.queue) > self.max_queued_messages:
                pull_point.queue.popleft()
        pull_point.wakeup.set()

    def _initialized_states(self) -> list[_Notification]:
        if self.quirks.initialized_now:
            now = self.device_now()
            return [
                dataclasses.replace(n, operation="Initialized", utc_time=now) for n in self._states.values()
            ]
        return [dataclasses.replace(note, operation="Initialized") for note in self._states.values()]

    def set_input(self, token: str, active: bool) -> None:
        self._require(token, self.spec.inputs, "digital input")
        item = "State" if self.quirks.alternate_data_items else "LogicalState"
        self.fire("tns1:Device/Trigger/DigitalInput", {"InputToken": token}, {item: _bool(active)})

    def set_relay(self, token: str, active: bool) -> None:
        self._require(token, self.spec.relays, "relay output")
        state = "active" if active else "inactive"
        self.fire("tns1:Device/Trigger/Relay", {"RelayToken": token}, {"LogicalState": state})

    def motion(self, video_source: str, on: bool) -> None:
        self._require(video_source, self._video_sources, "video source")
        self.fire("tns1:VideoSource/MotionAlarm", {"Source": video_source}, {"State": _bool(on)})

    def cell_motion(self, vsc_token: str, on: bool) -> None:
        vsc_tokens = [self.vsc_token(v) for v in self._video_sources]
        self._require(vsc_token, vsc_tokens, "video source configuration")
        source = {
            "VideoSourceConfigurationToken": vsc_token,
            "VideoAnalyticsConfigurationToken": "VideoAnalyticsToken",
            "Rule": "MyMotionDetectorRule",
        }
        item = "State" if self.quirks.alternate_data_items else "IsMotion"
        self.fire("tns1:RuleEngine/CellMotionDetector/Motion", source, {item: _bool(on)})

    def signal_loss(self, video_source: str, lost: bool) -> None:
        self._require(video_source, self._video_sources, "video source")
        self.fire("tns1:VideoSource/SignalLoss", {"Source": video_source}, {"State": _bool(lost)})

    def tamper(self, video_source: str, on: bool) -> None:
        self._require(video_source, self._video_sources, "video source")
        topic = "tns1:VideoSource/GlobalSceneChange/ImagingService"
        self.fire(topic, {"Source": video_source}, {"State": _bool(on)})

    def door_alarm(self, door: str, state: str) -> None:
        self._require(door, self.spec.doors, "door")
        self._require(state, sorted(DOOR_ALARM_STATES), "DoorAlarm state")
        self.fire("tns1:Door/State/DoorAlarm", {"DoorToken": door}, {"State": state})

    def door_physical(self, door: str, state: str) -> None:
        self._require(door, self.spec.doors, "door")
        self._require(state, sorted(DOOR_PHYSICAL_STATES), "DoorPhysicalState")
        self.fire("tns1:Door/State/DoorPhysicalState", {"DoorToken": door}, {"State": state})

    def access_granted(self, access_point: str, credential: str) -> None:
        self._require(access_point, self.spec.access_points, "access point")
        self.fire(
            "tns1:AccessControl/AccessGranted/Credential",
            {"AccessPointToken": access_point},
            {"CredentialToken": credential},
        )

    def access_denied(self, access_point: str, credential: str, reason: str) -> None:
        self._require(access_point, self.spec.access_points, "access point")
        self.fire(
            "tns1:AccessControl/Denied/Credential",
            {"AccessPointToken": access_point},
            {"CredentialToken": credential, "Reason": reason},
        )

    def _require(self, value: str, allowed: Iterable[str], what: str) -> None:
        allowed = list(allowed)
        if value not in allowed:
            raise ValueError(f"device {self.spec.id!r} has no {what} {value!r}; it has {allowed}")
