"""The XProtect event source: the Events & State socket and the VMS's alarms, to the bus.

Run by ``vmsbridge run`` through the source registry (see :func:`build_xprotect_sources`).
"""

from __future__ import annotations

__all__ = ["XProtectEventSource", "build_xprotect_sources"]

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from connectors.xprotect.alarm_levels import AlarmLevels
from connectors.xprotect.client import Inventory, XProtectClient
from connectors.xprotect.config import XProtectSource, xprotect_connectors
from connectors.xprotect.errors import XProtectError
from connectors.xprotect.events import EssLoop
from connectors.xprotect.mapping import XProtectMap, to_events, vms_time
from vmsbridge.backoff import Backoff
from vmsbridge.bus import EventSink, publish_durably
from vmsbridge.config import SiteConfig, SiteDirectory, resolve_secret
from vmsbridge.errors import StoreError
from vmsbridge.model import ALARM_STATE_KINDS, Event, EventKind
from vmsbridge.model.devicetime import CLOCK_SUSPECT, DEVICE_TIME
from vmsbridge.sources import EventSource, SourceMemory

log = logging.getLogger(__name__)

Json = dict[str, Any]

OWN_ALARMS_KEY = "own_alarms"
OWN_ALARMS_KEPT = 1_000  # far more than one poll's page of alarms: older ones are never listed again
SEEN_ALARMS_KEPT = 10_000  # the poll reads one page of alarms: ten pages of memory is ample


def _utc_now() -> datetime:
    return datetime.now(UTC)


class XProtectEventSource:
    def __init__(
        self,
        connector: XProtectSource,
        directory: SiteDirectory,
        password: str,
        *,
        backoff: Backoff | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.name = f"xprotect:{connector.id}"
        self.connector = connector
        self.client = XProtectClient.for_connector(connector, password)
        self.map = XProtectMap(connector, directory)
        self._backoff = backoff or Backoff(1.0, 60.0)
        self._clock = clock
        self.ess = EssLoop(
            self.client,
            self._on_events,
            self._on_gap,
            backoff=Backoff(self._backoff.initial, self._backoff.maximum),
            clock=clock,
        )
        self._sink: EventSink | None = None
        self._memory: SourceMemory | None = None
        self._states: dict[tuple[str, str], str] = {}
        # Alarms the poll has judged (reported, or closed already), oldest first.
        self.seen_alarms: dict[str, None] = {}
        # Alarms this bridge raised, oldest first; not echoed back as vms.alarm (kept across restarts).
        self.own_alarms: dict[str, None] = {}
        self._keeping = asyncio.Lock()
        self._recalled = False  # the kept list has been read back into own_alarms
        self.alarm_levels = AlarmLevels(self.client)
        self.inventory: Inventory | None = None
        self.unknown_types: Counter[str] = Counter()
        self.clock_suspects = 0  # events whose VMS time was not believed
        self.outcomes: Counter[str] = Counter()
        self.ready = asyncio.Event()
        self.alarm_polls = 0
        self.connect_retry_delays: list[float] = []  # the latest waits before signing in again
        self._raising = 0

    def remember_with(self, memory: SourceMemory) -> None:
        """Keep the events-socket position and the alarms we raised in ``memory`` (the bridge's store)."""
        self._memory = memory
        self.ess.memory = memory

    async def run(self, sink: EventSink) -> None:
        self._sink = sink
        try:
            await self._recall_own_alarms()
            await self._connect()
            async with asyncio.TaskGroup() as group:
                group.create_task(self.ess.run(), name=f"{self.name}:events")
                group.create_task(self._poll_alarms(), name=f"{self.name}:alarms")
        finally:
            await self.client.close()

    async def _connect(self) -> None:
        """Token and inventory, retried with backoff: nothing else works without them."""
        while True:
            try:
                await self.client.open()
                self.inventory = await self.client.inventory()
                break
            except XProtectError as exc:
                delay = self._backoff.next()
                self.connect_retry_delays.append(delay)
                del self.connect_retry_delays[:-20]
                log.error("%s; retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
        self._backoff.reset()
        self.map.learn(self.inventory)
        check = self.map.reconcile(self.inventory)
        for vms_id, name in check.vms_only:
            log.warning("%s: VMS camera %r (%s) is not in the site configuration", self.name, name, vms_id)
        for site_id, vms_id in check.site_only:
            log.warning(
                "%s: site camera %s names VMS camera %s, which the VMS does not have",
                self.name,
                site_id,
                vms_id,
            )
        self.ready.set()

    # -- events -----------------------------------------------------------------------------

    async def _on_events(self, raw_events: list[Json], why: str) -> None:
        received = self._clock()
        events: list[Event] = []
        for raw in raw_events:
            kind = self.map.kind_of(str(raw.get("type", "")))
            if kind is EventKind.VMS_UNKNOWN:
                if not self.unknown_types[str(raw.get("type"))]:
                    log.warning("%s: unknown event type %s; kept as vms.unknown", self.name, raw.get("type"))
                self.unknown_types[str(raw.get("type"))] += 1
            if not self._is_news(raw, kind, why):
                continue
            events += to_events(self.map, raw, received_at=received)
        self._note_clock(events)
        await self._publish(events)

    def _note_clock(self, events: list[Event]) -> None:
        suspect = [e for e in events if e.attributes.get(CLOCK_SUSPECT)]
        if suspect and not self.clock_suspects:
            log.warning(
                "%s: VMS event time %s is not believable; events are dated on receipt and flagged "
                "clock_suspect",
                self.name,
                suspect[0].attributes.get(DEVICE_TIME),
            )
        self.clock_suspects += len(suspect)

    def _is_news(self, raw: Json, kind: EventKind, why: str) -> bool:
        group = raw.get("stategroupid")
        if not group:
            return True
        key = (str(raw.get("source", "")), str(group))
        previous = self._states.get(key)
        self._states[key] = str(raw.get("type", ""))
        if why != "state":
            return True
        if previous is None:
            mapped = {k for _, k, _ in self.map.subjects(key[0], kind)}
            return bool(mapped & ALARM_STATE_KINDS)
        return previous != self._states[key]

    async def _on_gap(self, lost_at: datetime, found_at: datetime) -> None:
        seconds = (found_at - lost_at).total_seconds()
        log.warning("%s: could not see VMS events for %.0f s; current states re-read", self.name, seconds)
        await self._publish(
            [
                Event(
                    source=self.map.source,
                    native_id=f"gap:{lost_at.isoformat()}",
                    kind=EventKind.VMS_GAP,
                    device_id=self.map.fallback_device,
                    occurred_at=lost_at,
                    received_at=found_at,
                    attributes={
                        "from": lost_at.isoformat(),
                        "to": found_at.isoformat(),
                        "seconds": seconds,
                        "cameras": sorted(self.map.cameras.values()),
                    },
                )
            ]
        )

    # -- alarms -------------------------------------------------------------------------------

    async def raise_alarm(
        self, name: str, message: str, camera_id: str | None, priority: str | None = None
    ) -> str:
        """Raise an alarm in the VMS (for an incident); it is not echoed back as a ``vms.alarm``."""
        self._raising += 1
        try:
            alarm_id = await self.client.create_alarm(name, message, camera_id, priority)
            self.own_alarms[alarm_id] = None
            for old in list(self.own_alarms)[:-OWN_ALARMS_KEPT]:
                del self.own_alarms[old]
            try:
                await self._keep_own_alarms()
            except StoreError as exc:
                # The alarm exists: failing now would make the rule raise it again.
                log.warning(
                    "%s: alarm %s not kept (%s); after a restart it may come back",
                    self.name,
                    alarm_id,
                    exc,
                )
            return alarm_id
        finally:
            self._raising -= 1

    async def _keep_own_alarms(self) -> None:
        """Write the whole list, one write at a time, each with the list as it is when its turn
        comes: two alarms raised at once would otherwise race, and the write that ends last could
        be the older list, losing the other alarm. The kept list is read back first if it was not
        yet (an alarm raised at start-up adds to it, never replaces it)."""
        if self._memory is None:
            return
        async with self._keeping:
            if not self._recalled:
                await self._recall_unlocked()
            await self._memory.keep(OWN_ALARMS_KEY, {"ids": list(self.own_alarms)})

    async def _recall_own_alarms(self) -> None:
        async with self._keeping:
            await self._recall_unlocked()

    async def _recall_unlocked(self) -> None:
        """Merge what was kept with what this run raised already (the newest last)."""
        if self._memory is None:
            return
        try:
            kept = await self._memory.recall(OWN_ALARMS_KEY)
        except StoreError as exc:
            log.warning(
                "%s: alarms raised before this run unknown (%s); they may be ingested", self.name, exc
            )
            return
        self._recalled = True
        ids = kept.get("ids") if kept else None
        earlier = [str(i) for i in ids if str(i) not in self.own_alarms] if isinstance(ids, list) else []
        merged = [*earlier, *self.own_alarms]
        self.own_alarms = dict.fromkeys(merged[-OWN_ALARMS_KEPT:])

    async def _poll_alarms(self) -> None:
        while True:
            try:
                alarms = await self.client.alarms()
                # While we are raising one ourselves, its id is not known yet: judge next round.
                if not self._raising:
                    for alarm in alarms:
                        await self._alarm_seen(alarm)
                    self.alarm_polls += 1
            except XProtectError as exc:
                log.warning("%s: alarm poll failed: %s", self.name, exc)
            await asyncio.sleep(self.connector.alarm_poll_seconds)

    async def _alarm_seen(self, alarm: Json) -> None:
        alarm_id = str(alarm.get("id", ""))
        if not alarm_id or alarm_id in self.seen_alarms or alarm_id in self.own_alarms:
            return
        state = await self.alarm_levels.name("alarmStates", alarm.get("state"), alarm.get("stateName"))
        if state.closed:
            self._judged(alarm_id)
            return
        priority = await self.alarm_levels.name(
            "alarmPriorities", alarm.get("priority"), alarm.get("priorityName")
        )
        self._judged(alarm_id)
        source = self.map.source_path(alarm.get("source"))
        now = self._clock()
        when = vms_time(alarm.get("time"), now)
        events = []
        for device, _, notes in self.map.subjects(source, EventKind.VMS_ALARM):
            events.append(
                Event(
                    source=self.map.source,
                    native_id=f"alarm:{alarm_id}",
                    kind=EventKind.VMS_ALARM,
                    device_id=device,
                    occurred_at=when.occurred_at,
                    received_at=now,
                    attributes={
                        **when.attributes,
                        "alarm_id": alarm_id,
                        "name": str(alarm.get("name", "")),
                        "message": str(alarm.get("message", ""))[:2000],
                        "priority": priority.name,
                        "state": state.name,
                        "vms_source": source,
                        **notes,
                    },
                )
            )
        self._note_clock(events)
        await self._publish(events)

    def _judged(self, alarm_id: str) -> None:
        self.seen_alarms[alarm_id] = None
        if len(self.seen_alarms) > SEEN_ALARMS_KEPT:
            del self.seen_alarms[next(iter(self.seen_alarms))]

    # -- plumbing -------------------------------------------------------------------------------

    async def _publish(self, events: list[Event]) -> None:
        if not events or self._sink is None:
            return
        # Durable before we ask for more: what we have not taken stays with the device/VMS.
        outcomes = await publish_durably(self._sink, events)
        self.outcomes.update(o.status for o in outcomes)


def build_xprotect_sources(site: SiteConfig, directory: SiteDirectory) -> list[EventSource]:
    sources: list[EventSource] = []
    for i, connector in enumerate(xprotect_connectors(site)):
        password = resolve_secret(f"connectors.xprotect[{i}]", connector)
        sources.append(XProtectEventSource(connector, directory, password))
    return sources
