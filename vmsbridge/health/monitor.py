"""The live part of camera health: follow new events, raise ``camera.offline`` / ``camera.online``.

A camera is *down* while a down cause (comm lost, signal lost; see ``timeline.KIND_EFFECTS``) is
active. An outage begins when the camera goes down and ends only once it has stayed up for
``recover_after_seconds``: shorter recoveries belong to the same outage, so a camera flapping every
few seconds is one outage, not many. An outage that lasts ``offline_after_seconds`` raises ONE
``camera.offline`` (through the bus, so rules can act on it); its end raises ``camera.online``.
A camera that is *mostly* down (down ``offline_after_seconds`` in all within the last
``MOSTLY_DOWN_WINDOW_FACTOR`` times that, and down now), though each recovery was long enough to
end an outage, raises ``camera.offline`` too; it is back only after staying up for
``offline_after_seconds``, so it alerts once, not at every flap.

The bridge's own heartbeat (:class:`BridgeHeartbeat`) lives here too: it records the run session
that makes time without one "unknown" in every report. So does :class:`DailyDigest`, which writes
the digest of open problems at ``[health] digest_at`` site time (when: ``health.schedule``).
"""

from __future__ import annotations

__all__ = ["DIGEST_ACTOR", "MONITOR_SOURCE", "BridgeHeartbeat", "CameraWatch", "DailyDigest", "HealthMonitor"]

import asyncio
import contextlib
import logging
import os
import socket
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError

from evidence.atomic import write_atomically
from vmsbridge.backoff import Backoff
from vmsbridge.bus import BusClosed, EventSink, publish_durably
from vmsbridge.config import HealthConfig, SiteConfig, SiteDirectory
from vmsbridge.config.health import parse_digest_time
from vmsbridge.health.digest import Digest, digest_json, digest_text
from vmsbridge.health.intervals import State
from vmsbridge.health.schedule import DigestSchedule
from vmsbridge.health.service import current_digest
from vmsbridge.health.timeline import KIND_EFFECTS
from vmsbridge.model import Event, EventKind, StoredEvent
from vmsbridge.model.events import LogPosition
from vmsbridge.store.audit import record
from vmsbridge.store.database import Database, default_data_dir
from vmsbridge.store.health import HealthStore

log = logging.getLogger(__name__)

MONITOR_SOURCE = "health:monitor"
DIGEST_ACTOR = "vmsbridge:health-digest"
# The wall clock is read again at least this often while waiting for the digest: it can jump
# (NTP correction, a suspended host), and a long monotonic sleep would not notice.
DIGEST_NAP_SECONDS = 300.0
# A digest waits until the bridge has run this long: connectors re-report what is still wrong only
# once they are back (a camera's lost contact takes two failed probes), and until then every camera
# of a just-restarted bridge looks up.
DIGEST_SETTLE = timedelta(minutes=5)
Clock = Callable[[], datetime]

DOWN_EFFECTS = {kind: e for kind, e in KIND_EFFECTS.items() if e.state is State.DOWN}


def _utc_now() -> datetime:
    return datetime.now(UTC)


# Events of one camera may arrive out of order by this much (a probe dates its comm_lost from the
# first of two failed probes; two connectors deliver independently) and still be applied. Older
# news is history: the report (built from the stored log) has it, the live state does not rewind.
REORDER_TOLERANCE = timedelta(minutes=2)
# After a restart, an outage already alerted is taken as still going for this long: connectors
# re-report what is still wrong only once they are back (see DIGEST_SETTLE).
RESUME_SETTLE = timedelta(minutes=5)
RESUME_LOOKBACK = timedelta(days=30)  # how far back a restarted monitor looks for its open alerts
# "Mostly down": down offline_after in all within this many times offline_after (5 of 20 minutes
# by default). A camera down 290 s and up 61 s, over and over, is useless to an operator, though
# no single outage lasts 300 s.
MOSTLY_DOWN_WINDOW_FACTOR = 4
Key = tuple[str, str]  # (source, cause): a restore closes only what the same source reported


@dataclass
class CameraWatch:
    """One camera's live state and its outage bookkeeping (pure; times are event times).

    Times only move forward: an event is applied at ``max(occurred, newest applied, received -
    tolerance)``, and one older than the newest applied by more than the tolerance is ignored, so a
    late event can neither rewind a recovery nor start an outage in the past (which would alert at
    once for time nobody was told about).
    """

    camera_id: str
    active: set[Key] = field(default_factory=set)  # down causes in force, by (source, cause)
    last_seen: dict[Key, datetime] = field(default_factory=dict)  # per key: newest event applied
    newest: datetime | None = None  # the newest (effective) time applied to this camera
    down_since: datetime | None = None  # start of the current outage (kept through short recoveries)
    up_since: datetime | None = None  # when it last came back, while the outage is not yet over
    alerted: bool = False  # camera.offline raised for the current outage
    hold_until: datetime | None = None  # recovery not declared before this (resumed after a restart)
    # Recent down stretches as (start, end or None while down), across outages: "mostly down".
    downs: deque[tuple[datetime, datetime | None]] = field(default_factory=deque)
    mostly_down: bool = False  # the current alert is for a camera mostly down, not one long outage

    @property
    def down(self) -> bool:
        return bool(self.active)

    def apply(
        self,
        kind: EventKind,
        at: datetime,
        *,
        source: str = "",
        received_at: datetime | None = None,
        tolerance: timedelta = REORDER_TOLERANCE,
    ) -> bool:
        """Apply one event; False when it was stale or late and left the state alone."""
        effect = DOWN_EFFECTS.get(kind)
        if effect is None:
            return False
        key = (source, effect.cause)
        previous = self.last_seen.get(key)
        if previous is not None and at < previous:
            return False  # older than what we already know about this cause: out of order, stale
        if self.newest is not None and at < self.newest - tolerance:
            return False  # superseded by newer news of this camera: history, not the present
        effective = max(at, self.newest or at)
        if received_at is not None:
            effective = max(effective, received_at - tolerance)  # a backlog counts from its arrival
        self.last_seen[key] = at
        self.newest = effective
        was_down = self.down
        if effect.opens:
            self.active.add(key)
        else:
            self.active.discard(key)
        if self.down and not was_down:
            if self.down_since is None:
                self.down_since = effective
            self.up_since = None
            self.downs.append((effective, None))
        elif was_down and not self.down:
            self.up_since = effective
            if self.downs:
                self.downs[-1] = (self.downs[-1][0], effective)
        return True

    def down_within(self, start: datetime, now: datetime) -> timedelta:
        """How long the camera was down between ``start`` and ``now`` (forgets older stretches)."""
        while self.downs and (end := self.downs[0][1]) is not None and end < start:
            self.downs.popleft()
        total = timedelta(0)
        for begin, end in self.downs:
            total += max(timedelta(0), min(end or now, now) - max(begin, start))
        return total

    @property
    def cause_names(self) -> list[str]:
        return sorted({cause for _, cause in self.active} or {cause for _, cause in self.last_seen})


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
        self._mostly_down_window = self._offline_after * MOSTLY_DOWN_WINDOW_FACTOR
        # Below offline_after, so a late event can never be old enough to alert the moment it lands.
        self._tolerance = min(REORDER_TOLERANCE, self._offline_after / 2)
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
            watch.apply(
                event.kind,
                event.occurred_at,
                source=event.source,
                received_at=event.received_at,
                tolerance=self._tolerance,
            )

    def due_alerts(self, now: datetime) -> list[Event]:
        """Alerts whose time has come at ``now``; each outage gives at most one of each kind."""
        alerts: list[Event] = []
        for watch in self.watches.values():
            if watch.down_since is None:
                continue
            settle = (
                max(self._recover_after, self._offline_after) if watch.mostly_down else self._recover_after
            )
            recovered = (
                not watch.down
                and watch.up_since is not None
                and now - watch.up_since >= settle
                and (watch.hold_until is None or now >= watch.hold_until)
            )
            if recovered:
                assert watch.up_since is not None
                if not watch.alerted and watch.up_since - watch.down_since >= self._offline_after:
                    # It was down long enough while nobody looked (a late batch): still say so.
                    alerts.append(self._alert(EventKind.CAMERA_OFFLINE, watch, now))
                    watch.alerted = True
                if watch.alerted:
                    alerts.append(self._alert(EventKind.CAMERA_ONLINE, watch, now))
                if watch.alerted:  # a new outage must earn its own alert
                    watch.downs.clear()
                watch.down_since, watch.up_since, watch.alerted, watch.hold_until = None, None, False, None
                watch.mostly_down = False
            elif watch.down and not watch.alerted:
                if now - watch.down_since >= self._offline_after:
                    alerts.append(self._alert(EventKind.CAMERA_OFFLINE, watch, now))
                    watch.alerted = True
                elif watch.down_within(now - self._mostly_down_window, now) >= self._offline_after:
                    watch.mostly_down = True
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
            attributes["causes"] = watch.cause_names
            attributes["offline_after_seconds"] = self._offline_after.total_seconds()
            if watch.mostly_down:
                window = self._mostly_down_window
                attributes["mostly_down"] = {
                    "window_seconds": window.total_seconds(),
                    "down_seconds": watch.down_within(now - window, now).total_seconds(),
                }
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
        """Begin at the end of the log (a restarted bridge's connectors re-report what is still
        wrong), resuming the outages this monitor had alerted and not yet seen end: without that, a
        restart would raise a second camera.offline for the same outage and never its camera.online."""
        self._position = await self._store.log_position()
        now = self._clock()
        alerts = await self._store.events_between(
            now - RESUME_LOOKBACK,
            now + timedelta(seconds=1),
            [EventKind.CAMERA_OFFLINE, EventKind.CAMERA_ONLINE],
        )
        self.resume([a for a in alerts if a.source == MONITOR_SOURCE], now)

    def resume(self, alerts: list[StoredEvent], now: datetime) -> None:
        """Seed the watches from this monitor's stored alerts (oldest first): an outage whose latest
        alert is camera.offline is still open. It keeps its start (so its alerts keep their ids) and
        counts as recovered at ``now`` unless a connector re-reports it within ``RESUME_SETTLE``."""
        latest: dict[str, StoredEvent] = {}
        for alert in sorted(alerts, key=lambda a: (a.occurred_at, a.id)):
            latest[alert.device_id] = alert
        for camera, alert in latest.items():
            watch = self.watches.get(camera)
            since = alert.attributes.get("down_since")
            if watch is None or alert.kind is not EventKind.CAMERA_OFFLINE or not isinstance(since, str):
                continue
            try:
                down_since = datetime.fromisoformat(since)
            except ValueError:
                continue
            watch.down_since, watch.up_since, watch.alerted = down_since, now, True
            watch.hold_until = now + max(RESUME_SETTLE, self._recover_after)

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


class DailyDigest:
    """Writes the digest of open problems once a day, as ``DAY.json`` and ``DAY.txt`` in ``directory``.

    ``DAY`` is the site-local date the digest is scheduled for. The ``.json`` file is written last
    and marks the day done, so a day is never written twice; after a crash between the two files the
    day is written again, whole. On start, a day missed while the bridge was down is written as soon
    as the bridge has settled (``DIGEST_SETTLE``), as is a day whose time came while it was settling.
    The files are looked for and written in a worker thread: a slow disk never holds up the loop.
    """

    def __init__(
        self,
        health: HealthStore,
        db: Database,
        site: SiteConfig,
        schedule: DigestSchedule,
        directory: Path,
        *,
        clock: Clock = _utc_now,
        settle: timedelta = DIGEST_SETTLE,
    ) -> None:
        self._health = health
        self._db = db
        self._site = site
        self.schedule = schedule
        self.directory = directory
        self._clock = clock
        self.ready_at = clock() + settle  # no digest before this (see DIGEST_SETTLE)
        self._stop = asyncio.Event()

    @classmethod
    def for_site(
        cls, health: HealthStore, db: Database, site: SiteConfig, *, clock: Clock = _utc_now
    ) -> DailyDigest | None:
        """The site's daily digest per ``[health] digest_at``/``digest_dir``; None when it is off."""
        at = parse_digest_time(site.health.digest_at)
        if at is None:
            return None
        directory = site.health.digest_dir or (site.storage.data_dir or default_data_dir()) / "health-digests"
        return cls(health, db, site, DigestSchedule(at, ZoneInfo(site.site.timezone)), directory, clock=clock)

    def paths(self, day: date) -> tuple[Path, Path]:
        """The day's (JSON, text) files."""
        stem = day.isoformat()
        return self.directory / f"{stem}.json", self.directory / f"{stem}.txt"

    def written(self, day: date) -> bool:
        return self.paths(day)[0].exists()

    def stop(self) -> None:
        self._stop.set()

    async def step(self) -> date | None:
        """Write the digest now if a day's is due, not yet written, and the bridge has settled."""
        now = self._clock()
        if now < self.ready_at:
            return None
        day = await asyncio.to_thread(self.schedule.due, now, self.written)
        if day is not None:
            await self.write(day, now)
        return day

    def next_step_at(self, now: datetime) -> datetime:
        """When :meth:`step` may next have something to do."""
        if now < self.ready_at and self.schedule.due(now, self.written) is not None:
            return self.ready_at
        return self.schedule.next_after(now)[1]

    async def write(self, day: date, now: datetime) -> Digest:
        """``day``'s files with the open problems at ``now``, then the audit entry and one log line."""
        digest = await current_digest(self._health, self._site, now)
        json_path, text_path = self.paths(day)
        await asyncio.to_thread(self._write_files, digest, json_path, text_path)
        counts = {
            "cameras_with_problems": len(digest.cameras),
            "cameras_total": digest.cameras_total,
            "locations_without_coverage": len(digest.locations),
            "locations_total": digest.locations_total,
        }
        scheduled = self.schedule.occurrence(day)
        async with self._db.transaction() as session:
            record(
                session,
                actor=DIGEST_ACTOR,
                action="health.digest",
                subject_type="health_digest",
                subject_id=day.isoformat(),
                details={
                    **counts,
                    "scheduled_for": scheduled.isoformat(),
                    "late": now - scheduled >= timedelta(minutes=1),
                    "files": [json_path.name, text_path.name],
                },
                at=now,
            )
        problems = bool(digest.cameras or digest.locations)
        log.log(
            logging.WARNING if problems else logging.INFO,
            "health digest %s: %d of %d camera(s) with problems, %d of %d location(s) without working "
            "coverage (%s)",
            day.isoformat(),
            len(digest.cameras),
            digest.cameras_total,
            len(digest.locations),
            digest.locations_total,
            text_path,
        )
        return digest

    def _write_files(self, digest: Digest, json_path: Path, text_path: Path) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        write_atomically(text_path, digest_text(digest))
        write_atomically(json_path, digest_json(digest))  # last: it marks the day written

    async def run(self) -> None:
        """Until :meth:`stop`: a missed day's digest first, then each day's at its time.

        A digest being written is finished before stopping (its audit entry is a database write).
        """
        backoff = Backoff(initial=5.0, maximum=DIGEST_NAP_SECONDS)
        while not self._stop.is_set():
            try:
                await self.step()
                backoff.reset()
                now = self._clock()
                next_at = await asyncio.to_thread(self.next_step_at, now)
                wait = min(max((next_at - now).total_seconds(), 0.0), DIGEST_NAP_SECONDS)
            except (SQLAlchemyError, OSError) as exc:
                wait = backoff.next()
                log.error("daily health digest not written, retrying in %.0f s: %s", wait, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=wait)
