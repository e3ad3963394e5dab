"""Correlation v1: fold events into incidents by place and time.

An event joins the open incident at its location whose latest event is at most ``window``
before (or after) it; otherwise an event that matters on its own (a phone pickup, a forced door,
a camera going dark, motion) opens a new incident, and routine events (a door closing, access
granted, a phone hung up) are recorded without opening one. An incident's priority is the highest
of its events'. The correlator reads the event log after a cursor kept in the database, so after
a crash it resumes exactly where its last committed batch ended.

Quiet incidents close on event time, in two ways. An incoming event closes the incidents at its
place whose last event is ``quiet_close_seconds`` older than its own time, before it is matched.
The rest are swept by the event clock (the newest event time read): an incident is quiet once the
clock is ``quiet_close_seconds`` past its reading when the incident's last event was read. So
history imported behind newer events builds its incidents as its own time passes (they are not
all quiet at once because the site's clock is later), and is swept once the site's events have
moved on for the quiet time after it was read. What the correlator decides is a function of the
events in log order alone, not of how they were batched or whether the reading was interrupted,
so a backfill gives the same incidents in one go or in pieces. The wall clock only counts when no
event has been read for a while (:data:`LIVE_QUIET_AFTER`): a live site gone silent still closes
its incidents.
"""

from __future__ import annotations

__all__ = ["CORRELATOR_STAGE", "Correlator", "choose_incident", "event_priority"]

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from vmsbridge.backoff import Backoff
from vmsbridge.config import CorrelationConfig, SiteDirectory
from vmsbridge.model import ANALYTICS_SOURCE_PREFIX, EventKind, Priority, StoredEvent
from vmsbridge.model.incidents import OpenIncidentView
from vmsbridge.store.event_clock import EventClock, event_time
from vmsbridge.store.incidents import IncidentStore

log = logging.getLogger(__name__)

CORRELATOR_STAGE = "correlator"
HELD_BACK_RETRY_SECONDS = 0.25  # correlation is not the PTZ path: a gentle retry
# The wall clock starts to count only after this long without reading any event: an import or a
# busy site keeps moving the event clock itself, and counting wall time between its batches would
# make the outcome depend on how fast the events came.
LIVE_QUIET_AFTER = timedelta(seconds=60)

# Kinds that open an incident by themselves, and at what priority. Kinds not listed only join.
OPENING_PRIORITY: dict[EventKind, Priority] = {
    EventKind.PHONE_OFFHOOK: Priority.HIGH,
    EventKind.DOOR_FORCED: Priority.HIGH,
    EventKind.CAMERA_TAMPER: Priority.MEDIUM,
    EventKind.CAMERA_SIGNAL_LOSS: Priority.MEDIUM,
    EventKind.CAMERA_COMM_LOST: Priority.MEDIUM,
    EventKind.CAMERA_RECORDING_STOPPED: Priority.MEDIUM,
    EventKind.DOOR_HELD_OPEN: Priority.MEDIUM,
    EventKind.VMS_ALARM: Priority.MEDIUM,
    EventKind.ACCESS_DENIED: Priority.LOW,
    EventKind.MOTION_START: Priority.LOW,
}

KIND_LABELS: dict[EventKind, str] = {
    EventKind.PHONE_OFFHOOK: "Emergency phone picked up",
    EventKind.DOOR_FORCED: "Door forced open",
    EventKind.CAMERA_TAMPER: "Camera tampered with",
    EventKind.CAMERA_SIGNAL_LOSS: "Camera video signal lost",
    EventKind.CAMERA_COMM_LOST: "Camera not responding",
    EventKind.CAMERA_RECORDING_STOPPED: "Camera stopped recording",
    EventKind.DOOR_HELD_OPEN: "Door held open",
    EventKind.VMS_ALARM: "VMS alarm",
    EventKind.ACCESS_DENIED: "Access denied",
    EventKind.MOTION_START: "Motion",
}


# A camera or the VMS failing is about that place's equipment: it joins incidents at its own
# location only, never one next door (where adjacency joins people's activity).
LOCAL_ONLY_KINDS = frozenset(
    {
        EventKind.CAMERA_COMM_LOST,
        EventKind.CAMERA_COMM_RESTORED,
        EventKind.CAMERA_SIGNAL_LOSS,
        EventKind.CAMERA_SIGNAL_RESTORED,
        EventKind.CAMERA_STREAM_LOST,
        EventKind.CAMERA_STREAM_RESTORED,
        EventKind.CAMERA_RECORDING_STOPPED,
        EventKind.CAMERA_RECORDING_STARTED,
        EventKind.CAMERA_TAMPER_CLEARED,
        EventKind.VMS_GAP,
        EventKind.VMS_UNKNOWN,
        EventKind.ONVIF_UNKNOWN,
    }
)


def event_priority(kind: EventKind) -> Priority:
    return OPENING_PRIORITY.get(kind, Priority.LOW)


def choose_incident(
    event: StoredEvent,
    open_here: Sequence[OpenIncidentView],
    window: timedelta,
    adjacent: frozenset[str] = frozenset(),
) -> OpenIncidentView | None:
    """The open incident at the event's location (or an adjacent one) it belongs to, or None.

    An event belongs to an incident when it falls inside the incident's span widened by
    ``window`` on both sides (events can arrive late or out of order). Of several candidates,
    one at the event's own location wins over one next door, then the one whose span is
    nearest, then the newest.
    """
    best: tuple[bool, timedelta, int, OpenIncidentView] | None = None
    for incident in open_here:
        elsewhere = incident.location_id != event.location_id
        if elsewhere and incident.location_id not in adjacent:
            continue
        if event.occurred_at < incident.started_at:
            gap = incident.started_at - event.occurred_at
        elif event.occurred_at > incident.last_event_at:
            gap = event.occurred_at - incident.last_event_at
        else:
            gap = timedelta(0)
        if gap <= window and (best is None or (elsewhere, gap, -incident.id) < (best[0], best[1], -best[2])):
            best = (elsewhere, gap, incident.id, incident)
    return best[3] if best else None


class Correlator:
    def __init__(
        self,
        store: IncidentStore,
        directory: SiteDirectory,
        policy: CorrelationConfig,
        *,
        batch_size: int = 500,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._directory = directory
        self._window = timedelta(seconds=policy.window_seconds)
        self._quiet_seconds = policy.quiet_close_seconds
        self._quiet = timedelta(seconds=policy.quiet_close_seconds)
        self._batch_size = batch_size
        self._clock = clock
        self._event_clock: EventClock | None = None  # counted from the log on first use
        self._last_read: datetime | None = None  # wall time an event was last read (or start)
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._stopping = False
        self.processed = 0

    def notify(self) -> None:
        """Called by ingest after new events are stored."""
        self._wake.set()

    def stop(self) -> None:
        """Ask :meth:`run` to finish after the batch in hand (never in the middle of one)."""
        self._stopping = True
        self._wake.set()

    async def run(self, sweep_every: float = 30.0) -> None:
        """Correlate as events arrive and close quiet incidents periodically, until :meth:`stop`.

        A database that is away (restart, network, a lock held by another process) is waited
        out with backoff; the cursor guarantees that nothing is skipped meanwhile.
        """
        backoff = Backoff(initial=0.5, maximum=30.0)
        while not self._stopping:
            try:
                await self.catch_up()
                await self.close_quiet()
                # Events an open transaction holds back (PostgreSQL): look again soon, since
                # their commit has already woken us and nothing else may.
                held_back = await self._store.held_back(CORRELATOR_STAGE)
                backoff.reset()
            except (SQLAlchemyError, OSError) as exc:
                delay = backoff.next()
                log.error("correlation failed, retrying in %.1f s: %s", delay, exc)
                await asyncio.sleep(delay)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._wake.wait(), timeout=HELD_BACK_RETRY_SECONDS if held_back else sweep_every
                )
            self._wake.clear()

    async def catch_up(self) -> int:
        """Correlate every stored event not yet correlated; returns how many were processed."""
        total = 0
        while n := await self.process_batch():
            total += n
        return total

    async def process_batch(self) -> int:
        closed: list[int] = []
        async with self._lock, self._store.correlation_unit(CORRELATOR_STAGE) as unit:
            now = self._clock()
            clock = await unit.event_clock(self._event_clock)
            events = await unit.pending(self._batch_size)
            for event in events:
                clock = clock.read(event)
                adjacent: frozenset[str] = frozenset()
                if event.kind not in LOCAL_ONLY_KINDS:
                    adjacent = self._directory.adjacent.get(event.location_id, frozenset())
                places = [event.location_id, *sorted(adjacent)]
                # Quiet before this event is matched, by its own time and by the clock: what
                # decides is the events read so far, never where a batch happened to end.
                closed += await unit.close_quiet_at(
                    places,
                    event_time(event) - self._quiet,
                    clock.quiet_before(self._quiet),
                    self._quiet_seconds,
                    now,
                )
                open_here: list[OpenIncidentView] = []
                for place in places:
                    open_here += await unit.open_incidents_at(place)
                target = choose_incident(event, open_here, self._window, adjacent)
                if target is not None:
                    await unit.attach(target.id, event, event_priority(event.kind), clock.newest)
                elif event.kind in OPENING_PRIORITY and not event.source.startswith(ANALYTICS_SOURCE_PREFIX):
                    incident_id = await unit.open_for(
                        event, OPENING_PRIORITY[event.kind], self._summary(event), clock.newest
                    )
                    log.info(
                        "incident %d opened at %s by %s", incident_id, event.location_id, event.kind.value
                    )
            if events:
                unit.advance()
                closed += await unit.close_quiet(clock.quiet_before(self._quiet), self._quiet_seconds, now)
                clock = clock.at(unit.position)
        # Only a committed batch moves the clock: a batch that failed is read again from the log.
        self._event_clock = clock
        if events or self._last_read is None:
            self._last_read = now
        self._log_closed(closed)
        self.processed += len(events)
        return len(events)

    async def close_quiet(self) -> list[int]:
        """Close incidents quiet by event time, and by the wall clock once nothing has been read
        for :data:`LIVE_QUIET_AFTER` (a live site gone silent)."""
        async with self._lock:
            now = self._clock()
            if self._event_clock is None or self._last_read is None:
                self._event_clock = await self._store.event_clock(CORRELATOR_STAGE, self._event_clock)
                self._last_read = now
            newest = self._event_clock.newest
            if newest is None:
                return []  # nothing read yet: the correlator has opened nothing to close
            idle = now - self._last_read
            quiet_now = min(now, newest + idle) if idle >= LIVE_QUIET_AFTER else newest
            closed = await self._store.close_quiet(now=quiet_now, quiet_seconds=self._quiet_seconds, at=now)
        self._log_closed(closed)
        return closed

    def _log_closed(self, closed: Sequence[int]) -> None:
        for incident_id in closed:
            log.info("incident %d closed after %d s without events", incident_id, self._quiet_seconds)

    def _summary(self, event: StoredEvent) -> str:
        label = KIND_LABELS.get(event.kind, event.kind.value)
        name = self._directory.device_names.get(event.device_id, event.device_id)
        return f"{label}: {name}"
