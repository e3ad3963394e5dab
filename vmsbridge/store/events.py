"""Durable, idempotent event storage and the rejected-input log."""

from __future__ import annotations

__all__ = ["EventStore", "follow", "row_to_event"]

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Select, Table, func, literal, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from vmsbridge.model import EventKind, StoredEvent
from vmsbridge.model.events import AcceptedEvent, EventKey, LogPosition, RejectedInput, UnreadableEvent
from vmsbridge.store.commit_watch import announce_events
from vmsbridge.store.database import Database
from vmsbridge.store.tables import EventRow, RejectedEventRow, StageCursorRow

# The oldest transaction still running that could be writing to this database, as a 64-bit
# transaction id. The server's snapshot lists running transactions of every database; one left
# open in another database (a report, a forgotten psql session) can never insert events here,
# so it must not hold the followers back. Only transactions positively seen in another database
# are left out: anything unclear (a backend that finished meanwhile) still counts, which can
# only make a follower wait a little, never skip an event.
OLDEST_RUNNING_HERE = """(
    SELECT coalesce(min(x::text::bigint), pg_snapshot_xmax(pg_current_snapshot())::text::bigint)
    FROM pg_snapshot_xip(pg_current_snapshot()) AS x
    WHERE (x::text::bigint % 4294967296) NOT IN (
        SELECT backend_xid::text::bigint FROM pg_stat_activity
        WHERE backend_xid IS NOT NULL AND datname IS NOT NULL AND datname <> current_database()
    )
)"""


def follow(dialect: str, position: LogPosition, limit: int) -> Select[tuple[EventRow]]:
    """The next ``limit`` events after ``position`` in commit-safe order, for log followers.

    On PostgreSQL ids are handed out before commit, so a follower reads by (txid, id) and only
    transactions older than the oldest still running: a later commit can never land behind its
    position. SQLite has one writer at a time, so id order is commit order.
    """
    txid, last_id = position
    query = select(EventRow).limit(limit)
    if dialect == "postgresql":
        oldest_running = text(OLDEST_RUNNING_HERE)
        return query.where(
            tuple_(EventRow.txid, EventRow.id) > tuple_(literal(txid), literal(last_id)),
            EventRow.txid < oldest_running,
        ).order_by(EventRow.txid, EventRow.id)
    return query.where(EventRow.id > last_id).order_by(EventRow.id)


def _readable(row: EventRow) -> StoredEvent | UnreadableEvent:
    try:
        return row_to_event(row)
    except (ValueError, TypeError, KeyError) as exc:
        return UnreadableEvent(row.id, type(exc).__name__, str(exc))


def row_to_event(row: EventRow) -> StoredEvent:
    return StoredEvent(
        id=row.id,
        source=row.source,
        native_id=row.native_id,
        kind=EventKind(row.kind),
        device_id=row.device_id,
        location_id=row.location_id,
        occurred_at=row.occurred_at,
        received_at=row.received_at,
        attributes=dict(row.attributes or {}),
    )


class EventStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def write_batch(
        self, accepted: Sequence[AcceptedEvent], rejected: Sequence[RejectedInput]
    ) -> tuple[dict[EventKey, int], dict[EventKey, int]]:
        """Store a batch in one transaction. Returns ``(new, already_stored)``, each key -> event id.

        Replays of ``(source, native_id)`` are skipped by the database itself (insert-on-conflict),
        so concurrent writers and crash-restart replays can never make a second row.
        """
        now = datetime.now(UTC)
        async with self._db.transaction() as session:
            if rejected:
                session.add_all(
                    RejectedEventRow(rejected_at=now, source=r.source, reason=r.reason, payload=r.payload)
                    for r in rejected
                )
                await session.flush()
            if not accepted:
                return {}, {}
            new = await self._insert_new(session, accepted, now)
            if new:  # followers in other processes hear of them at commit
                await announce_events(session, self._db)
            repeat_keys = {(a.event.source, a.event.native_id) for a in accepted} - new.keys()
            existing: dict[EventKey, int] = {}
            if repeat_keys:
                rows = await session.execute(
                    select(EventRow.source, EventRow.native_id, EventRow.id).where(
                        tuple_(EventRow.source, EventRow.native_id).in_(list(repeat_keys))
                    )
                )
                existing = {(s, n): i for s, n, i in rows}
            return new, existing

    async def _insert_new(
        self, session: AsyncSession, accepted: Sequence[AcceptedEvent], now: datetime
    ) -> dict[EventKey, int]:
        values: list[dict[str, Any]] = [
            {
                "source": a.event.source,
                "native_id": a.event.native_id,
                "kind": a.event.kind.value,
                "device_id": a.event.device_id,
                "location_id": a.location_id,
                "occurred_at": a.event.occurred_at,
                "received_at": a.event.received_at,
                "stored_at": now,
                "attributes": a.event.attributes,
                "raw": a.event.raw,
            }
            for a in accepted
        ]
        # A Core insert executed with a parameter list is compiled once and cached, and SQLAlchemy
        # sends it as multi-row INSERT ... RETURNING ("insertmanyvalues"); building a VALUES
        # clause per batch instead costs more in compilation than the database spends writing.
        insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
        table = cast(Table, EventRow.__table__)
        statement = (
            insert(table)
            .on_conflict_do_nothing(index_elements=["source", "native_id"])
            .returning(table.c.source, table.c.native_id, table.c.id)
        )
        result = await session.execute(statement, values)
        return {(s, n): i for s, n, i in result}

    async def recent(self, limit: int = 20, after_id: int = 0) -> list[StoredEvent]:
        """The newest ``limit`` events with id above ``after_id``, oldest first."""
        async with self._db.sessions() as session:
            rows = (
                await session.scalars(
                    select(EventRow).where(EventRow.id > after_id).order_by(EventRow.id.desc()).limit(limit)
                )
            ).all()
        return [row_to_event(r) for r in reversed(rows)]

    async def get(self, event_id: int) -> StoredEvent | None:
        async with self._db.sessions() as session:
            row = await session.get(EventRow, event_id)
            return row_to_event(row) if row is not None else None

    async def log_position(self) -> LogPosition:
        """Where the event log ends now: a follower starting here sees only later events."""
        async with self._db.sessions() as session:
            row = (await session.execute(select(func.max(EventRow.txid), func.max(EventRow.id)))).one()
        return int(row[0] or 0), int(row[1] or 0)

    async def events_after(
        self, position: LogPosition, limit: int = 500
    ) -> tuple[list[StoredEvent], LogPosition]:
        """The next events after ``position`` (see :func:`follow`), and the new position."""
        async with self._db.sessions() as session:
            rows = list(await session.scalars(follow(session.bind.dialect.name, position, limit)))
        if not rows:
            return [], position
        return [row_to_event(r) for r in rows], (rows[-1].txid, rows[-1].id)

    async def positioned_after(
        self, position: LogPosition, limit: int = 500
    ) -> list[tuple[StoredEvent | UnreadableEvent, LogPosition]]:
        """The next events after ``position`` (see :func:`follow`), each with the position just past
        it: a follower that saves only what it has handled saves an event's own position. A row
        that does not make an event comes as :class:`UnreadableEvent`, in its place."""
        async with self._db.sessions() as session:
            rows = list(await session.scalars(follow(session.bind.dialect.name, position, limit)))
        return [(_readable(r), (r.txid, r.id)) for r in rows]

    async def held_back(self, position: LogPosition | None) -> bool:
        """Whether committed events lie beyond ``position`` that a follower could not read yet.

        On PostgreSQL a follower stops short of any transaction older than an event's that is still
        running (see :func:`follow`); once that transaction ends, nothing else may wake the
        follower, so it must look again soon rather than wait for the next stored event.
        """
        if self._db.is_sqlite:
            return False  # one writer at a time: a follower that caught up has seen every commit
        txid, last_id = position or (0, 0)
        query = select(
            select(EventRow.id)
            .where(tuple_(EventRow.txid, EventRow.id) > tuple_(literal(txid), literal(last_id)))
            .exists()
        )
        async with self._db.sessions() as session:
            return bool(await session.scalar(query))

    async def stage_position(self, stage: str) -> LogPosition | None:
        """Where a log-following stage had read to when it last said so (None: never ran)."""
        async with self._db.sessions() as session:
            row = await session.get(StageCursorRow, stage)
            return (row.last_txid, row.last_event_id) if row is not None else None

    async def save_stage_position(self, stage: str, position: LogPosition) -> None:
        async with self._db.transaction() as session:
            row = await session.get(StageCursorRow, stage, with_for_update=True)
            if row is None:
                session.add(
                    StageCursorRow(
                        stage=stage,
                        last_txid=position[0],
                        last_event_id=position[1],
                        updated_at=datetime.now(UTC),
                    )
                )
            elif (row.last_txid, row.last_event_id) < position:
                row.last_txid, row.last_event_id = position
                row.updated_at = datetime.now(UTC)

    async def count(self) -> int:
        async with self._db.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(EventRow)) or 0)

    async def count_rejected(self) -> int:
        async with self._db.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(RejectedEventRow)) or 0)

    async def rejected(self, limit: int = 20) -> list[RejectedInput]:
        async with self._db.sessions() as session:
            rows = (
                await session.scalars(
                    select(RejectedEventRow).order_by(RejectedEventRow.id.desc()).limit(limit)
                )
            ).all()
        return [RejectedInput(r.source, r.reason, r.payload) for r in reversed(rows)]

    async def native_id_counts(self, source: str) -> dict[str, int]:
        """How many rows each native id of one source has (1 everywhere, by the unique constraint)."""
        async with self._db.sessions() as session:
            rows = await session.execute(
                select(EventRow.native_id, func.count())
                .where(EventRow.source == source)
                .group_by(EventRow.native_id)
            )
            return {n: int(c) for n, c in rows}
