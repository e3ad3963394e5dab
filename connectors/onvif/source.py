"""The ONVIF event source: one configured device, from PullPoint to the bus, plus its health.

Run by ``vmsbridge run`` through the source registry (see :func:`build_onvif_sources`).
"""

from __future__ import annotations

__all__ = ["CommHealth", "OnvifEventSource", "build_onvif_sources"]

import asyncio
import dataclasses
import logging
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

from connectors.onvif.client import DeviceInfo, OnvifClient
from connectors.onvif.config import OnvifSource, onvif_connectors
from connectors.onvif.errors import OnvifError
from connectors.onvif.events import PullPointLoop, PullSettings
from connectors.onvif.mapping import DeviceMap, PropertyStates, build_event
from connectors.onvif.messages import Notification
from connectors.onvif.topics import Reading, read_notification
from vmsbridge.bus import EventSink, publish_durably
from vmsbridge.config import SiteConfig, SiteDirectory, resolve_secret
from vmsbridge.model import ALARM_STATE_KINDS, Event, EventKind
from vmsbridge.model.devicetime import DEVICE_TIME, date_event
from vmsbridge.sources import EventSource

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
MAX_UNKNOWN_TOPICS = 500


def _utc_now() -> datetime:
    return datetime.now(UTC)


class CommHealth:
    """Turns health-probe results into ``camera.comm_lost`` / ``camera.comm_restored`` events.

    One failed probe is a blip; the second in a row declares the device lost, dated from the first
    failure, so the recorded outage is the real interval. Every camera on the device is reported.
    """

    def __init__(self, device_map: DeviceMap, failures_to_declare: int = 2) -> None:
        self._map = device_map
        self._threshold = failures_to_declare
        self._failures = 0
        self._first_failure: datetime | None = None
        self._lost_since: datetime | None = None

    def _subjects(self) -> list[str]:
        return self._map.camera_ids or [self._map.fallback_device]

    def failed(self, now: datetime, reason: str) -> list[Event]:
        self._failures += 1
        if self._first_failure is None:
            self._first_failure = now
        if self._lost_since is not None or self._failures < self._threshold:
            return []
        self._lost_since = self._first_failure
        return self._events(EventKind.CAMERA_COMM_LOST, self._lost_since, now, {"reason": reason[:500]})

    def ok(self, now: datetime) -> list[Event]:
        self._failures = 0
        self._first_failure = None
        if self._lost_since is None:
            return []
        since, self._lost_since = self._lost_since, None
        details = {"lost_at": since.isoformat(), "down_seconds": (now - since).total_seconds()}
        return self._events(EventKind.CAMERA_COMM_RESTORED, since, now, details, occurred_at=now)

    def _events(
        self,
        kind: EventKind,
        since: datetime,
        now: datetime,
        details: dict[str, object],
        occurred_at: datetime | None = None,
    ) -> list[Event]:
        """One event per camera; ids keyed by the outage start, so a replay cannot double them."""
        return [
            Event(
                source=self._map.source,
                native_id=f"{kind.value}:{device}:{since.isoformat()}",
                kind=kind,
                device_id=device,
                occurred_at=occurred_at or since,
                received_at=now,
                attributes={"connector": self._map.connector_id, **details},
            )
            for device in self._subjects()
        ]


class OnvifEventSource:
    def __init__(
        self,
        connector: OnvifSource,
        directory: SiteDirectory,
        password: str,
        *,
        settings: PullSettings | None = None,
        health_interval: float | None = None,
        clock: Clock = _utc_now,
    ) -> None:
        self.name = f"onvif:{connector.id}"
        self.connector = connector
        self.client = OnvifClient(connector.id, connector.host, connector.port, connector.username, password)
        self.map = DeviceMap(connector, directory)
        self.states = PropertyStates()
        self.health = CommHealth(self.map)
        self._clock = clock
        self._health_interval = health_interval or connector.health_interval_seconds
        settings = settings or PullSettings(
            subscription_seconds=connector.subscription_seconds,
            pull_timeout=connector.pull_timeout_seconds,
            message_limit=connector.message_limit,
        )
        self.loop = PullPointLoop(
            self.client, settings, self._on_notifications, on_connect=self._on_connect, on_gap=self._on_gap
        )
        self._bus: EventSink | None = None
        self.unknown_topics: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()
        self.repeats_skipped = 0
        self.clock_suspects = 0  # events whose device time was not believed
        self._sequence = 0
        self.device_info: DeviceInfo | None = None
        self.presets: dict[str, dict[str, str]] = {}  # PTZ profile -> preset token -> name

    async def run(self, bus: EventSink) -> None:
        self._bus = bus
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self.loop.run(), name=f"{self.name}:pull")
                group.create_task(self._probe_forever(), name=f"{self.name}:health")
        finally:
            await self.client.close()

    async def _on_connect(self, _: list[Notification]) -> None:
        """What the device is and what it offers. Each step is optional: an I/O module or a door
        controller has no media profiles, and some firmware faults on GetPresets, yet their events
        still matter."""
        try:
            self.device_info = await self.client.device_information()
        except OnvifError as exc:
            log.warning("%s: no device information (%s)", self.name, exc)
        try:
            profiles = await self.client.profiles()
        except OnvifError as exc:
            log.info(
                "%s: no media profiles (%s); motion/tamper events will not map to cameras", self.name, exc
            )
            profiles = []
        # Motion and tamper events name video sources; learn which camera each one is.
        self.map.learn_profiles(profiles)
        for profile in (p for p in profiles if p.ptz):
            try:
                self.presets[profile.token] = await self.client.presets(profile.token)
            except OnvifError as exc:
                log.warning("%s: no PTZ presets for %s (%s)", self.name, profile.token, exc)
        info = self.device_info
        log.info(
            "%s: %s, %d profiles, clock %+.1f s from ours",
            self.name,
            f"{info.manufacturer} {info.model} (firmware {info.firmware})" if info else "unknown model",
            len(profiles),
            self.client.skew.total_seconds(),
        )

    async def _on_gap(self, lost_at: datetime, found_at: datetime) -> None:
        """The subscription was lost and is back: say for which cameras events may be missing."""
        seconds = (found_at - lost_at).total_seconds()
        log.warning("%s: no events for %.0f s (subscription lost); states re-read", self.name, seconds)
        device = self.connector.id if self.connector.location else next(iter(self.map.camera_ids), None)
        if device is None:
            return  # nothing here that camera health follows
        gap = Event(
            source=self.map.source,
            native_id=f"gap:{lost_at.isoformat()}",
            kind=EventKind.VMS_GAP,
            device_id=device,
            occurred_at=lost_at,
            received_at=found_at,
            attributes={
                "from": lost_at.isoformat(),
                "to": found_at.isoformat(),
                "seconds": seconds,
                "cameras": list(self.map.camera_ids),
                "why": "ONVIF subscription lost",
            },
        )
        await self._publish([gap])

    async def _on_notifications(self, notifications: list[Notification]) -> None:
        received = self._clock()
        events: list[Event] = []
        for notification in notifications:
            reading = read_notification(notification)
            if reading.kind is EventKind.ONVIF_UNKNOWN:
                self._count_unknown(notification, reading)
            elif reading.is_property:
                _, mapped, _ = self.map.resolve(reading)
                news = self.states.is_news(
                    notification.topic, reading, notification.operation, alarm=mapped in ALARM_STATE_KINDS
                )
                if not news:
                    self.repeats_skipped += 1
                    continue
            event = self._event(notification, reading, received)
            if event is not None:
                events.append(event)
        try:
            await self._publish(events)
        except BaseException:
            self.states.rollback()  # not stored, so not known: the re-sync after restart reports it
            raise
        self.states.commit()

    def _count_unknown(self, notification: Notification, reading: Reading) -> None:
        topic = notification.topic if len(self.unknown_topics) < MAX_UNKNOWN_TOPICS else "<other topics>"
        if not self.unknown_topics[topic]:
            log.warning(
                "%s: no parser for topic %r (%s); kept as onvif.unknown: %s",
                self.name,
                notification.topic,
                reading.attributes.get("why"),
                notification.raw[:2000],
            )
        self.unknown_topics[topic] += 1

    def _event(self, notification: Notification, reading: Reading, received: datetime) -> Event | None:
        self._sequence += 1
        fallback = f"{received.isoformat()}#{self._sequence}"
        when = date_event(notification.utc_time or notification.bad_time, received, self.client.skew)
        if when.suspect:
            # The device's clock is nonsense (1970 after a reset, years ahead): an id made from its
            # time could collide with an earlier boot's, so this one is made from our receipt.
            notification = dataclasses.replace(notification, utc_time=None)
        event = build_event(
            self.map,
            notification,
            reading,
            occurred_at=when.occurred_at,
            received_at=received,
            id_fallback=fallback,
        )
        if event is None or not when.suspect:
            return event
        self.clock_suspects += 1
        if self.clock_suspects == 1:
            log.warning(
                "%s: device time %s is not believable (clock %+.0f s from ours); events are dated on "
                "receipt and flagged clock_suspect",
                self.name,
                when.attributes.get(DEVICE_TIME),
                self.client.skew.total_seconds(),
            )
        return event.model_copy(update={"attributes": {**event.attributes, **when.attributes}})

    async def _publish(self, events: list[Event]) -> None:
        if not events or self._bus is None:
            return
        # Durable before we ask for more: what we have not taken stays with the device/VMS.
        outcomes = await publish_durably(self._bus, events)
        self.outcomes.update(o.status for o in outcomes)

    async def _probe_forever(self) -> None:
        while True:
            now = self._clock()
            try:
                # A probe gets a few seconds whatever the interval: a busy device is not a dead one.
                await self.client.probe(limit_seconds=min(10.0, max(5.0, self._health_interval)))
            except OnvifError as exc:
                await self._publish(self.health.failed(now, str(exc)))
            else:
                await self._publish(self.health.ok(now))
            await asyncio.sleep(self._health_interval)


def build_onvif_sources(site: SiteConfig, directory: SiteDirectory) -> list[EventSource]:
    """One source per ``[[connectors.onvif]]``; a missing secret stops start-up with its key named."""
    sources: list[EventSource] = []
    for i, connector in enumerate(onvif_connectors(site)):
        password = resolve_secret(f"connectors.onvif[{i}]", connector)
        sources.append(OnvifEventSource(connector, directory, password))
    return sources
