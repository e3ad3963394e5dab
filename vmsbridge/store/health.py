"""Camera health's data: the bridge's run sessions, and camera-state events read by time or in order."""

from __future__ import annotations

__all__ = ["HealthStore"]

from collections.abc import AsyncIterator, Collection, Sequence
from datetime import datetime

from sqlalchemy import and_, func, or_, select, type_coerce, update
from sqlalchemy.dialects.postgresql import JSONB

from vmsbridge.errors import NotFound
from vmsbridge.model import EventKind, Incident, IncidentStatus, Priority, StoredEvent
from vmsbridge.model.devicetime import CLOCK_SUSPECT
from vmsbridge.model.events import LogPosition
from vmsbridge.model.health import BridgeRun, ClockSuspect
from vmsbridge.store.database import Database
from vmsbridge.store.events import EventStore, row_to_event
from vmsbridge.store.tables import BridgeRunRow, EventRow, IncidentRow


def _run(row: BridgeRunRow) -> BridgeRun:
    return BridgeRun(
        row.id, row.started_at, row.heartbeat_at, row.stopped_at, row.host, row.pid, row.heartbeat_seconds
    )


class HealthStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- run sessions ---------------------------------------------------------------------------

    async def start_run(self, *, at: datetime, host: str, pid: int, heartbeat_seconds: int) -> int:
        async with self._db.transaction() as session:
            row = BridgeRunRow(
                started_at=at, heartbeat_at=at, host=host[:200], pid=pid, heartbeat_seconds=heartbeat_seconds
            )
            session.add(row)
            await session.flush()
            return row.id

    async def heartbeat(self, run_id: int, at: datetime) -> None:
        await self._touch(run_id, heartbeat_at=at)

    async def stop_run(self, run_id: int, at: datetime) -> None:
        await self._touch(run_id, heartbeat_at=at, stopped_at=at)

    async def _touch(self, run_id: int, **values: datetime) -> None:
        async with self._db.transaction() as session:
            result = await session.execute(
                update(BridgeRunRow).where(BridgeRunRow.id == run_id).values(**values)
            )
            if getattr(result, "rowcount", 1) == 0:
                raise NotFound(f"bridge run {run_id} does not exist")

    async def runs_between(self, start: datetime, end: datetime) -> list[BridgeRun]:
        """Runs that may have watched part of ``[start, end)``, oldest first.

        Runs that never stopped cleanly are included while their last heartbeat is in the window;
        whether they still live is decided by the reader (:meth:`BridgeRun.observed_until`).
        """
        query = (
            select(BridgeRunRow)
            .where(
                BridgeRunRow.started_at < end,
                or_(
                    BridgeRunRow.stopped_at > start,
                    and_(BridgeRunRow.stopped_at.is_(None), BridgeRunRow.heartbeat_at >= start),
                ),
            )
            .order_by(BridgeRunRow.started_at, BridgeRunRow.id)
        )
        async with self._db.sessions() as session:
            return [_run(r) for r in await session.scalars(query)]

    # -- events ---------------------------------------------------------------------------------

    async def events_between(
        self, start: datetime, end: datetime, kinds: Collection[EventKind]
    ) -> list[StoredEvent]:
        """Events of ``kinds`` that occurred in ``[start, end)``, by occurrence (index: kind, occurred_at)."""
        query = (
            select(EventRow)
            .where(
                EventRow.kind.in_(sorted(k.value for k in kinds)),
                EventRow.occurred_at >= start,
                EventRow.occurred_at < end,
            )
            .order_by(EventRow.occurred_at, EventRow.id)
        )
        async with self._db.sessions() as session:
            return [row_to_event(r) for r in await session.scalars(query)]

    async def camera_events(
        self,
        cameras: Sequence[str],
        start: datetime,
        end: datetime,
        kinds: Collection[EventKind],
        *,
        chunk: int = 50,
    ) -> AsyncIterator[tuple[list[str], list[StoredEvent]]]:
        """Events of ``kinds`` in ``[start, end)`` of ``chunk`` cameras at a time, by camera and time.

        For camera-health reports: only one chunk of cameras' events is ever in memory, read as
        plain columns (no ORM objects), each camera's events by the (device, occurred_at) index,
        so the cost follows the window, not the size of the log.
        """
        wanted = sorted(k.value for k in kinds)
        columns = (
            EventRow.id,
            EventRow.source,
            EventRow.native_id,
            EventRow.kind,
            EventRow.device_id,
            EventRow.location_id,
            EventRow.occurred_at,
            EventRow.received_at,
            EventRow.attributes,
        )
        for first in range(0, len(cameras), chunk):
            part = list(cameras[first : first + chunk])
            query = (
                select(*columns)
                .where(
                    EventRow.device_id.in_(part),
                    EventRow.occurred_at >= start,
                    EventRow.occurred_at < end,
                    EventRow.kind.in_(wanted),
                )
                .order_by(EventRow.device_id, EventRow.occurred_at, EventRow.id)
                # Without statistics SQLite may pick the (kind, occurred_at) index and scan the
                # whole window once per chunk; the device index reads each camera's range only.
                .with_hint(EventRow, "INDEXED BY ix_events_device_occurred", "sqlite")
            )
            async with self._db.sessions() as session:
                rows = (await session.execute(query)).all()
            yield (
                part,
                [
                    StoredEvent(r[0], r[1], r[2], EventKind(r[3]), r[4], r[5], r[6], r[7], dict(r[8] or {}))
                    for r in rows
                ],
            )

    async def latest_before(
        self, start: datetime, at: datetime, kinds: Collection[EventKind]
    ) -> list[StoredEvent]:
        """The newest stored event of each (camera, source, kind) in ``[start, at)``: what a camera's
        state at ``at`` depends on, without reading every event before it. One aggregate query (by
        the (kind, occurred_at) index), then only the rows it picked. "Newest" is by id (storage
        order), which differs from occurrence order only for events that arrived out of order."""
        newest = (
            select(func.max(EventRow.id))
            .where(
                EventRow.kind.in_(sorted(k.value for k in kinds)),
                EventRow.occurred_at >= start,
                EventRow.occurred_at < at,
            )
            .group_by(EventRow.device_id, EventRow.source, EventRow.kind)
        )
        async with self._db.sessions() as session:
            ids = [i for i in await session.scalars(newest) if i is not None]
            out: list[StoredEvent] = []
            for first in range(0, len(ids), 1_000):
                query = select(EventRow).where(EventRow.id.in_(ids[first : first + 1_000]))
                out += [row_to_event(r) for r in await session.scalars(query)]
        return out

    async def log_position(self) -> LogPosition:
        """Where the event log ends now: a follower starting here sees only later events."""
        return await EventStore(self._db).log_position()

    async def events_after(
        self, position: LogPosition, kinds: Collection[EventKind], limit: int = 500
    ) -> tuple[list[StoredEvent], LogPosition]:
        """The next events of ``kinds`` after ``position`` in commit-safe order, and the new position."""
        events, position = await EventStore(self._db).events_after(position, limit)
        wanted = set(kinds)
        return [e for e in events if e.kind in wanted], position

    async def clock_suspects(self, start: datetime, end: datetime) -> list[ClockSuspect]:
        """Devices with events in ``[start, end)`` flagged ``clock_suspect``, by device id.

        Every kind is named so that the (kind, occurred_at) index bounds the read to the window.
        """
        if self._db.is_sqlite:
            flagged = func.json_type(EventRow.attributes, "$.clock_suspect") == "true"
        else:
            flagged = type_coerce(EventRow.attributes, JSONB).contains({CLOCK_SUSPECT: True})
        query = (
            select(EventRow.device_id, func.count(), func.max(EventRow.occurred_at))
            .where(
                EventRow.kind.in_(sorted(k.value for k in EventKind)),
                EventRow.occurred_at >= start,
                EventRow.occurred_at < end,
                flagged,
            )
            .group_by(EventRow.device_id)
            .order_by(EventRow.device_id)
        )
        async with self._db.sessions() as session:
            rows = (await session.execute(query)).all()
        return [ClockSuspect(device, int(count), last) for device, count, last in rows]

    # -- incidents ------------------------------------------------------------------------------

    async def incidents_between(self, start: datetime, end: datetime) -> list[Incident]:
        """Incidents whose span ``[started_at, last_event_at]`` meets ``[start, end)`` (no event links)."""
        query = (
            select(IncidentRow)
            .where(IncidentRow.started_at < end, IncidentRow.last_event_at >= start)
            .order_by(IncidentRow.started_at, IncidentRow.id)
        )
        async with self._db.sessions() as session:
            rows = list(await session.scalars(query))
        return [
            Incident(
                id=r.id,
                location_id=r.location_id,
                status=IncidentStatus(r.status),
                priority=Priority(r.priority),
                summary=r.summary,
                started_at=r.started_at,
                last_event_at=r.last_event_at,
                opened_by=r.opened_by,
                closed_at=r.closed_at,
                close_reason=r.close_reason,
                victim_sensitive=r.victim_sensitive,
                legal_hold=r.legal_hold,
            )
            for r in rows
        ]
