"""The live part of camera health: follow new events, raise ``camera.offline`` / ``camera.online``.

A camera is *down* while a down cause (comm lost, signal lost; see ``timeline.KIND_EFFECTS``) is
active. An outage begins when the camera goes down and ends only once it has stayed up for
``recover_after_seconds``: shorter recoveries belong to the same outage, so a camera flapping every
few seconds is one outage, not many. An outage that lasts ``offline_after_seconds`` raises ONE
``camera.offline`` (through the bus, so rules can act on it); its end raises ``camera.online``.

The bridge's own heartbeat (:class:`BridgeHeartbeat`) lives here too: it records the run session
that makes time without one "unknown" in every report.
"""

from __future__ import annotations

__all__ = ["MONITOR_SOURCE", "BridgeHeartbeat", "CameraWatch", "HealthMonitor"]

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from vmsbridge.backoff import Backoff
from vmsbridge.bus import BusClosed, EventSink, publish_durably
from vmsbridge.config import HealthConfig, SiteDirectory
from vmsbridge.health.intervals import State
from vmsbridge.health.timeline import KIND_EFFECTS
from vmsbridge.model import Event, EventKind, StoredEvent
from vmsbridge.store.health import HealthStore, LogPosition

log = logging.getLogger(__name__)

MONITOR_SOURCE = "health:monitor"
Clock = Callable[[], datetime]

DOWN_EFFECTS = {kind: e for kind, e in KIND_EFFECTS.items() if e.state is State.DOWN}


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class CameraWatch:
    """One camera's live state and its outage bookkeeping (pure; times are event times)."""

    camera_id: str
    active: set[str] = field(default_factory=set)  # down causes in force
    last_seen: dict[str, datetime] = field(default_factory=dict)  # per cause: newest event applied
    down_since: datetime | None = None  # start of the current outage (kept through short recoveries)
    up_since: datetime | None = None  # when it last came back, while the outage is not yet over
    alerted: bool = False  # camera.offline raised for the current outage

    @property
    def down(self) -> bool:
        return bool(self.active)

    def apply(self, kind: EventKind, at: datetime) -> None:
        effect = DOWN_EFFECTS.get(kind)
        if effect is None:
            return
        previous = self.last_seen.get(effect.cause)
        if previous is not None and at < previous:
            return  # older than what we already know about this cause: out of order, stale
        self.last_seen[effect.cause] = at
        was_down = self.down
        if effect.opens:
            self.active.add(effect.cause)
        else:
            self.active.discard(effect.cause)
        if self.down and not was_down:
            if self.down_since is None:
                self.down_since = at
            self.up_since = None
        elif was_down and not self.down:
            self.up_since = at


class HealthMonitor:
    def __init__(
        self,
        store: HealthStore,
        bus: EventSink,
        directory: SiteDirectory,
        policy: HealthConfig,
        *,
        clock: Clock = _utc_now,
        batch_size: int = 500,
    ) -> None:
        self._store = store
        self._bus = bus
        self._directory = directory
        self._offline_after = timedelta(seconds=policy.offline_after_seconds)
        self._recover_after = timedelta(seconds=policy.recover_after_seconds)
        self._clock = clock
        self._batch_size = batch_size
        self._cameras = {c.id for c in directory.site.cameras}
        self.watches: dict[str, CameraWatch] = {c: CameraWatch(c) for c in sorted(self._cameras)}
        self._position: LogPosition | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self.raised: list[Event] = []  # every alert raised by this monitor, in order

    def notify(self) -> None:
        """Called by ingest after new events are stored."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    def apply(self, event: StoredEvent) -> None:
        watch = self.watches.get(event.device_id)
        if watch is not None:
            watch.apply(event.kind, event.occurred_at)

    def due_alerts(self, now: datetime) -> list[Event]:
        """Alerts whose time has come at ``now``; each outage gives at most one of each kind."""
        alerts: list[Event] = []
        for watch in self.watches.values():
            if watch.down_since is None:
                continue
            recovered = (
                not watch.down and watch.up_since is not None and now - watch.up_since >= self._recover_after
            )
            if recovered:
                assert watch.up_since is not None
                if not watch.alerted and watch.up_since - watch.down_since >= self._offline_after:
                    # It was down long enough while nobody looked (a late batch): still say so.
                    alerts.append(self._alert(EventKind.CAMERA_OFFLINE, watch, now))
                    watch.alerted = True
                if watch.alerted:
                    alerts.append(self._alert(EventKind.CAMERA_ONLINE, watch, now))
                watch.down_since, watch.up_since, watch.alerted = None, None, False
            elif watch.down and not watch.alerted and now - watch.down_since >= self._offline_after:
                alerts.append(self._alert(EventKind.CAMERA_OFFLINE, watch, now))
                watch.alerted = True
        return alerts

    def _alert(self, kind: EventKind, watch: CameraWatch, now: datetime) -> Event:
        assert watch.down_since is not None
        attributes: dict[str, object] = {
            "down_since": watch.down_since.isoformat(),
            "location": self._directory.location_of(watch.camera_id),
        }
        if kind is EventKind.CAMERA_OFFLINE:
            attributes["causes"] = sorted(watch.active) or sorted(watch.last_seen)
            attributes["offline_after_seconds"] = self._offline_after.total_seconds()
        else:
            assert watch.up_since is not None
            attributes["up_since"] = watch.up_since.isoformat()
            attributes["down_seconds"] = (watch.up_since - watch.down_since).total_seconds()
        event = Event(
            source=MONITOR_SOURCE,
            # One per outage and kind, also across a replay: the outage start identifies it.
            native_id=f"{kind.value}:{watch.camera_id}:{watch.down_since.isoformat()}",
            kind=kind,
            device_id=watch.camera_id,
            occurred_at=now,
            received_at=now,
            attributes=attributes,
        )
        self.raised.append(event)
        return event

    async def step(self) -> list[Event]:
        """Read what is new, apply it, and publish the alerts now due; returns them."""
        if self._position is None:
            self._position = await self._store.log_position()
        kinds = set(DOWN_EFFECTS)
        while True:
            events, self._position = await self._store.events_after(self._position, kinds, self._batch_size)
            for event in events:
                self.apply(event)
            if not events:
                break
        alerts = self.due_alerts(self._clock())
        if alerts:
            for alert in alerts:
                log.warning(
                    "%s: %s (down since %s)",
                    alert.kind.value,
                    alert.device_id,
                    alert.attributes["down_since"],
                )
            try:
                await publish_durably(self._bus, alerts)
            except BusClosed:
                log.error("stopping: %d camera health alert(s) could not be published", len(alerts))
        return alerts

    async def start(self) -> None:
        """Begin at the end of the log: a restarted bridge's connectors re-report what is still wrong."""
        self._position = await self._store.log_position()

    async def run(self, tick_seconds: float | None = None) -> None:
        """Follow the log until :meth:`stop`; timers are checked at least every ``tick_seconds``."""
        tick = tick_seconds or max(min(self._recover_after.total_seconds(), 5.0), 0.05)
        backoff = Backoff(initial=0.5, maximum=30.0)
        while not self._stopping:
            try:
                await self.step()
                backoff.reset()
            except (SQLAlchemyError, OSError) as exc:
                delay = backoff.next()
                log.error("camera health monitor failed, retrying in %.1f s: %s", delay, exc)
                await asyncio.sleep(delay)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=tick)
            self._wake.clear()


class BridgeHeartbeat:
    """Records this run session: its start, a heartbeat every ``heartbeat_seconds``, and a clean stop."""

    def __init__(self, store: HealthStore, policy: HealthConfig, *, clock: Clock = _utc_now) -> None:
        self._store = store
        self._interval = policy.heartbeat_seconds
        self._clock = clock
        self._stop = asyncio.Event()
        self.run_id: int | None = None

    async def begin(self) -> int:
        self.run_id = await self._store.start_run(
            at=self._clock(), host=socket.gethostname(), pid=os.getpid(), heartbeat_seconds=self._interval
        )
        return self.run_id

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Beat until :meth:`stop`, then record the clean stop. A missed beat is retried next time."""
        run_id = self.run_id if self.run_id is not None else await self.begin()
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self._interval)
            if self._stop.is_set():
                break
            try:
                await self._store.heartbeat(run_id, self._clock())
            except (SQLAlchemyError, OSError) as exc:
                log.error("heartbeat not recorded (time may later show as unknown): %s", exc)
        await self._store.stop_run(run_id, self._clock())
