"""Incident persistence: reads, operator commands, and the unit of work the correlator uses."""

from __future__ import annotations

__all__ = ["CorrelationUnit", "IncidentStore"]

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from vmsbridge.errors import NotFound, VmsBridgeError
from vmsbridge.model import (
    ANALYTICS_SOURCE_PREFIX,
    EventKind,
    Incident,
    IncidentStatus,
    Priority,
    StoredEvent,
)
from vmsbridge.model.events import LogPosition
from vmsbridge.model.incidents import OpenIncidentView
from vmsbridge.store.audit import record
from vmsbridge.store.database import Database
from vmsbridge.store.event_clock import EventClock, catch_up_clock
from vmsbridge.store.events import EventStore, follow, row_to_event
from vmsbridge.store.tables import EventRow, IncidentEventRow, IncidentRow, StageCursorRow

SYSTEM_ACTOR = "vmsbridge:correlator"


def _quiet_reason(quiet_seconds: int) -> str:
    return f"quiet for {quiet_seconds} s"


def _view(row: IncidentRow) -> OpenIncidentView:
    return OpenIncidentView(
        row.id, row.location_id, Priority(row.priority), row.started_at, row.last_event_at
    )


class IncidentStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- reads -------------------------------------------------------------------------------

    async def search(self, status: IncidentStatus | None = None, limit: int = 100) -> list[Incident]:
        query = select(IncidentRow).order_by(IncidentRow.id.desc()).limit(limit)
        if status is not None:
            query = query.where(IncidentRow.status == status.value)
        async with self._db.sessions() as session:
            rows = list((await session.scalars(query)).all())
            links = await self._links(session, [r.id for r in rows])
        return [self._to_model(r, links.get(r.id, [])) for r in reversed(rows)]

    async def get(self, incident_id: int) -> Incident:
        async with self._db.sessions() as session:
            row = await session.get(IncidentRow, incident_id)
            if row is None:
                raise NotFound(f"incident {incident_id} does not exist")
            links = await self._links(session, [incident_id])
        return self._to_model(row, links.get(incident_id, []))

    async def open_before(self, location_id: str, before: datetime) -> bool:
        """Whether an incident at ``location_id`` that began before ``before`` is still open."""
        query = select(
            select(IncidentRow.id)
            .where(
                IncidentRow.status == IncidentStatus.OPEN.value,
                IncidentRow.location_id == location_id,
                IncidentRow.started_at < before,
            )
            .exists()
        )
        async with self._db.sessions() as session:
            return bool(await session.scalar(query))

    async def events_of(self, incident_id: int) -> list[StoredEvent]:
        async with self._db.sessions() as session:
            rows = await session.scalars(
                select(EventRow)
                .join(IncidentEventRow, IncidentEventRow.event_id == EventRow.id)
                .where(IncidentEventRow.incident_id == incident_id)
                .order_by(EventRow.occurred_at, EventRow.id)
            )
            return [row_to_event(r) for r in rows]

    @staticmethod
    async def _links(session: AsyncSession, ids: Sequence[int]) -> dict[int, list[tuple[int, EventKind]]]:
        if not ids:
            return {}
        rows = await session.execute(
            select(IncidentEventRow.incident_id, EventRow.id, EventRow.kind)
            .join(EventRow, EventRow.id == IncidentEventRow.event_id)
            .where(IncidentEventRow.incident_id.in_(ids))
            .order_by(EventRow.occurred_at, EventRow.id)
        )
        out: dict[int, list[tuple[int, EventKind]]] = {}
        for incident_id, event_id, kind in rows:
            out.setdefault(incident_id, []).append((event_id, EventKind(kind)))
        return out

    @staticmethod
    def _to_model(row: IncidentRow, links: list[tuple[int, EventKind]]) -> Incident:
        return Incident(
            id=row.id,
            location_id=row.location_id,
            status=IncidentStatus(row.status),
            priority=Priority(row.priority),
            summary=row.summary,
            started_at=row.started_at,
            last_event_at=row.last_event_at,
            opened_by=row.opened_by,
            closed_at=row.closed_at,
            close_reason=row.close_reason,
            event_kinds=tuple(dict.fromkeys(kind for _, kind in links)),
            event_ids=tuple(event_id for event_id, _ in links),
            victim_sensitive=row.victim_sensitive,
            legal_hold=row.legal_hold,
        )

    # -- operator commands -------------------------------------------------------------------

    async def open(
        self, *, location_id: str, summary: str, priority: Priority, actor: str, at: datetime | None = None
    ) -> Incident:
        now = at or datetime.now(UTC)
        async with self._db.transaction() as session:
            row = IncidentRow(
                location_id=location_id,
                status=IncidentStatus.OPEN.value,
                priority=priority.value,
                summary=summary,
                started_at=now,
                last_event_at=now,
                created_at=now,
                opened_by=actor,
            )
            session.add(row)
            await session.flush()
            record(
                session,
                actor=actor,
                action="incident.opened",
                subject_type="incident",
                subject_id=row.id,
                details={"location_id": location_id, "priority": priority.value, "summary": summary},
                at=now,
            )
        return self._to_model(row, [])

    async def close(
        self, incident_id: int, *, actor: str, reason: str, at: datetime | None = None
    ) -> Incident:
        now = at or datetime.now(UTC)
        async with self._db.transaction() as session:
            row = await session.get(IncidentRow, incident_id, with_for_update=True)
            if row is None:
                raise NotFound(f"incident {incident_id} does not exist")
            if row.status == IncidentStatus.CLOSED.value:
                raise VmsBridgeError(f"incident {incident_id} is already closed ({row.close_reason})")
            self._close_row(session, row, actor=actor, reason=reason, at=now)
        return await self.get(incident_id)

    async def close_quiet(
        self, *, now: datetime, quiet_seconds: int, at: datetime | None = None
    ) -> list[int]:
        """Close correlator-opened incidents with no new event for ``quiet_seconds`` before ``now``.

        ``now`` is the time quiet is measured against (the correlator's event time); ``at`` is when
        the close is recorded (default: ``now``). Incidents an operator opened by hand stay open
        until an operator closes them.
        """
        async with self._db.transaction() as session:
            return await _close_quiet(
                session, now - timedelta(seconds=quiet_seconds), quiet_seconds, at or now
            )

    @staticmethod
    def _close_row(session: AsyncSession, row: IncidentRow, *, actor: str, reason: str, at: datetime) -> None:
        row.status = IncidentStatus.CLOSED.value
        row.closed_at = at
        row.close_reason = reason
        record(
            session,
            actor=actor,
            action="incident.closed",
            subject_type="incident",
            subject_id=row.id,
            details={"reason": reason},
            at=at,
        )

    async def set_flags(
        self,
        incident_id: int,
        *,
        actor: str,
        victim_sensitive: bool | None = None,
        legal_hold: bool | None = None,
    ) -> Incident:
        """Mark an incident victim-sensitive or under legal hold (or clear either), audited."""
        async with self._db.transaction() as session:
            row = await session.get(IncidentRow, incident_id, with_for_update=True)
            if row is None:
                raise NotFound(f"incident {incident_id} does not exist")
            changes: dict[str, bool] = {}
            if victim_sensitive is not None and row.victim_sensitive != victim_sensitive:
                row.victim_sensitive = changes["victim_sensitive"] = victim_sensitive
            if legal_hold is not None and row.legal_hold != legal_hold:
                row.legal_hold = changes["legal_hold"] = legal_hold
            if changes:
                record(
                    session,
                    actor=actor,
                    action="incident.flags",
                    subject_type="incident",
                    subject_id=row.id,
                    details=changes,
                )
        return await self.get(incident_id)

    # -- rules -------------------------------------------------------------------------------

    async def incident_of_event(self, event_id: int) -> int | None:
        """The incident an event was linked to (by correlation or a rule), if any."""
        query = select(IncidentEventRow.incident_id).where(IncidentEventRow.event_id == event_id).limit(1)
        async with self._db.sessions() as session:
            found = await session.scalar(query)
        return int(found) if found is not None else None

    async def correlated(self, stage: str, event_id: int) -> bool:
        """Whether ``stage`` has read past the event (cursor order is (txid, id), see migration 0002)."""
        async with self._db.sessions() as session:
            cursor = await session.get(StageCursorRow, stage)
            event = await session.get(EventRow, event_id)
            if cursor is None or event is None:
                return False
            return (event.txid, event.id) <= (cursor.last_txid, cursor.last_event_id)

    async def claim_for_rule(
        self, event: StoredEvent, incident_id: int | None, *, priority: Priority, summary: str, actor: str
    ) -> int:
        """Make sure the event has an incident at least ``priority``; open one for it if it has none.

        Correlation already opened or joined an incident for most alarm events; a rule then only
        raises its priority (and gives it the rule's summary if it is still the default one).
        """
        now = datetime.now(UTC)
        async with self._db.transaction() as session:
            if incident_id is not None:
                row = await session.get(IncidentRow, incident_id, with_for_update=True)
                if row is None:
                    raise NotFound(f"incident {incident_id} does not exist")
                if priority.rank > Priority(row.priority).rank:
                    record(
                        session,
                        actor=actor,
                        action="incident.escalated",
                        subject_type="incident",
                        subject_id=row.id,
                        details={"from": row.priority, "to": priority.value, "event_id": event.id},
                    )
                    row.priority = priority.value
                # The rule names the incident only if this event opened it: a camera failing
                # during a phone call must not rename the call's incident.
                first = await session.scalar(
                    select(func.min(IncidentEventRow.event_id)).where(IncidentEventRow.incident_id == row.id)
                )
                if row.opened_by == SYSTEM_ACTOR and first == event.id and row.summary != summary:
                    row.summary = summary
                return row.id
            row = await _open_with_event(session, event, priority, summary, actor, now)
            return row.id

    async def count(self, status: IncidentStatus | None = None) -> int:
        query = select(func.count()).select_from(IncidentRow)
        if status is not None:
            query = query.where(IncidentRow.status == status.value)
        async with self._db.sessions() as session:
            return int(await session.scalar(query) or 0)

    # -- correlation -------------------------------------------------------------------------

    async def cursor(self, stage: str) -> int:
        """The id of the last event ``stage`` has processed (0 before it ever ran)."""
        async with self._db.sessions() as session:
            row = await session.get(StageCursorRow, stage)
            return row.last_event_id if row else 0

    async def event_clock(self, stage: str, known: EventClock | None = None) -> EventClock:
        """The newest event time ``stage`` has read (see :mod:`vmsbridge.store.event_clock`)."""
        async with self._db.sessions() as session:
            row = await session.get(StageCursorRow, stage)
            position = (row.last_txid, row.last_event_id) if row else (0, 0)
            return await catch_up_clock(session, known, position)

    async def held_back(self, stage: str) -> bool:
        """Whether committed events past ``stage``'s cursor could not be read yet (see
        :meth:`EventStore.held_back`)."""
        async with self._db.sessions() as session:
            row = await session.get(StageCursorRow, stage)
        position = (row.last_txid, row.last_event_id) if row else None
        return await EventStore(self._db).held_back(position)

    @asynccontextmanager
    async def correlation_unit(self, stage: str) -> AsyncIterator[CorrelationUnit]:
        """One transaction that reads events past the stage's cursor and links them to incidents.

        The cursor moves in the same transaction as the links, so a crash re-does the whole batch
        or none of it. The cursor row is locked, so two processes cannot correlate the same events.
        """
        async with self._db.transaction() as session:
            cursor = await session.get(StageCursorRow, stage, with_for_update=True)
            if cursor is None:
                cursor = StageCursorRow(stage=stage, last_event_id=0, updated_at=datetime.now(UTC))
                session.add(cursor)
                await session.flush()
            yield CorrelationUnit(session, cursor)


class CorrelationUnit:
    def __init__(self, session: AsyncSession, cursor: StageCursorRow) -> None:
        self._session = session
        self._cursor = cursor
        self._open: dict[str, list[IncidentRow]] = {}
        self._read_up_to: tuple[int, int] | None = None

    @property
    def cursor(self) -> int:
        return self._cursor.last_event_id

    @property
    def position(self) -> LogPosition:
        """Where the stage has read to, including what :meth:`advance` moved past."""
        return self._cursor.last_txid, self._cursor.last_event_id

    async def event_clock(self, known: EventClock | None) -> EventClock:
        """``known`` brought up to this unit's cursor (counted from the log if this process has not)."""
        return await catch_up_clock(self._session, known, self.position)

    async def pending(self, limit: int) -> list[StoredEvent]:
        """The next events in commit-safe order (see migration 0002)."""
        cursor = self._cursor
        query = follow(self._session.bind.dialect.name, (cursor.last_txid, cursor.last_event_id), limit)
        rows = list((await self._session.scalars(query)).all())
        if rows:
            self._read_up_to = (rows[-1].txid, rows[-1].id)
        return [row_to_event(r) for r in rows]

    async def open_incidents_at(self, location_id: str) -> list[OpenIncidentView]:
        if location_id not in self._open:
            rows = await self._session.scalars(
                select(IncidentRow)
                .where(
                    IncidentRow.status == IncidentStatus.OPEN.value, IncidentRow.location_id == location_id
                )
                .order_by(IncidentRow.id)
            )
            self._open[location_id] = list(rows)
        return [_view(r) for r in self._open[location_id]]

    async def close_quiet_at(
        self,
        location_ids: Sequence[str],
        own_cutoff: datetime,
        clock_cutoff: datetime | None,
        quiet_seconds: int,
        at: datetime,
    ) -> list[int]:
        """Close the correlator-opened incidents at these places that are quiet, before an event
        there is matched against them: by the event's own time (last event at or before
        ``own_cutoff``) or by the clock, as :meth:`close_quiet` would (None: nothing read yet)."""
        closed: list[int] = []
        for location_id in location_ids:
            await self.open_incidents_at(location_id)
            for row in self._open[location_id]:
                if row.opened_by == SYSTEM_ACTOR and (
                    row.last_event_at <= own_cutoff
                    or (clock_cutoff is not None and (row.quiet_from or row.last_event_at) <= clock_cutoff)
                ):
                    IncidentStore._close_row(
                        self._session, row, actor=SYSTEM_ACTOR, reason=_quiet_reason(quiet_seconds), at=at
                    )
                    closed.append(row.id)
            self._open[location_id] = [r for r in self._open[location_id] if r.id not in closed]
        return closed

    async def close_quiet(self, cutoff: datetime | None, quiet_seconds: int, at: datetime) -> list[int]:
        """Close every correlator-opened incident quiet since ``cutoff`` by the event clock."""
        if cutoff is None:
            return []
        closed = await _close_quiet(self._session, cutoff, quiet_seconds, at)
        for location_id, rows in self._open.items():
            self._open[location_id] = [r for r in rows if r.id not in closed]
        return closed

    async def attach(
        self, incident_id: int, event: StoredEvent, priority: Priority, read_at: datetime | None = None
    ) -> None:
        """Link the event; ``read_at``: the event clock having read it (the incident's quiet counts
        from there)."""
        # The incident may be at an adjacent location: look through everything loaded.
        row = next(r for rows in self._open.values() for r in rows if r.id == incident_id)
        # What the bridge's own footage review finds (tamper in a clip's pre-roll) belongs to the
        # incident, but the incident began when something was reported, not 30 s before the call.
        if not event.source.startswith(ANALYTICS_SOURCE_PREFIX):
            row.started_at = min(row.started_at, event.occurred_at)
        row.last_event_at = max(row.last_event_at, event.occurred_at)
        if read_at is not None:
            row.quiet_from = max(row.quiet_from or read_at, read_at)
        if priority.rank > Priority(row.priority).rank:
            record(
                self._session,
                actor=SYSTEM_ACTOR,
                action="incident.escalated",
                subject_type="incident",
                subject_id=row.id,
                details={"from": row.priority, "to": priority.value, "event_id": event.id},
            )
            row.priority = priority.value
        self._session.add(
            IncidentEventRow(incident_id=incident_id, event_id=event.id, linked_at=datetime.now(UTC))
        )

    async def open_for(
        self, event: StoredEvent, priority: Priority, summary: str, read_at: datetime | None = None
    ) -> int:
        row = await _open_with_event(self._session, event, priority, summary, SYSTEM_ACTOR, datetime.now(UTC))
        row.quiet_from = read_at
        self._open.setdefault(event.location_id, []).append(row)
        return row.id

    def advance(self) -> None:
        """Move the cursor past everything :meth:`pending` returned."""
        if self._read_up_to is None:
            return
        self._cursor.last_txid, self._cursor.last_event_id = self._read_up_to
        self._cursor.updated_at = datetime.now(UTC)


async def _close_quiet(
    session: AsyncSession, cutoff: datetime, quiet_seconds: int, at: datetime
) -> list[int]:
    rows = (
        await session.scalars(
            select(IncidentRow)
            .where(
                IncidentRow.status == IncidentStatus.OPEN.value,
                IncidentRow.opened_by == SYSTEM_ACTOR,
                func.coalesce(IncidentRow.quiet_from, IncidentRow.last_event_at) <= cutoff,
            )
            .order_by(IncidentRow.id)
            .with_for_update()
        )
    ).all()
    for row in rows:
        IncidentStore._close_row(session, row, actor=SYSTEM_ACTOR, reason=_quiet_reason(quiet_seconds), at=at)
    return [row.id for row in rows]


async def _open_with_event(
    session: AsyncSession, event: StoredEvent, priority: Priority, summary: str, actor: str, now: datetime
) -> IncidentRow:
    """A new open incident whose first event is ``event``, audited."""
    row = IncidentRow(
        location_id=event.location_id,
        status=IncidentStatus.OPEN.value,
        priority=priority.value,
        summary=summary,
        started_at=event.occurred_at,
        last_event_at=event.occurred_at,
        created_at=now,
        opened_by=actor,
    )
    session.add(row)
    await session.flush()
    session.add(IncidentEventRow(incident_id=row.id, event_id=event.id, linked_at=now))
    record(
        session,
        actor=actor,
        action="incident.opened",
        subject_type="incident",
        subject_id=row.id,
        details={"location_id": event.location_id, "priority": priority.value, "first_event_id": event.id},
        at=now,
    )
    return row
