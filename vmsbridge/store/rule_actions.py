"""The record of what rules did: one row per action, kept with the incident it served; the firings
claimed (so a replay never repeats one) and the events a rule failed on and set aside."""

from __future__ import annotations

__all__ = ["RuleActionStore"]

from datetime import datetime
from typing import cast

from sqlalchemy import ColumnElement, Table, delete, exists, literal, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import aliased

from vmsbridge.model import StoredEvent
from vmsbridge.model.events import LogPosition
from vmsbridge.model.rules import INTERRUPTED, ActionOutcome, RuleFailure
from vmsbridge.store.database import Database
from vmsbridge.store.events import row_to_event
from vmsbridge.store.tables import EventRow, IncidentActionRow, RuleFailureRow, RuleFiringRow

PRUNE_CHUNK = 5_000


class RuleActionStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(self, outcomes: list[ActionOutcome], incident_id: int | None) -> None:
        async with self._db.transaction() as session:
            session.add_all(
                IncidentActionRow(
                    incident_id=incident_id,
                    event_id=o.event_id,
                    rule=o.rule,
                    action=o.action,
                    ok=o.ok,
                    ms=o.ms,
                    detail=o.detail,
                    started_at=o.started_at,
                )
                for o in outcomes
            )

    async def claim_firing(self, rule: str, event_id: int, at: datetime) -> bool:
        """Record that ``rule`` fires on the event; False if it already had (the event is being read
        again after a crash). The database decides, so two engines can never both claim it."""
        insert = pg_insert if self._db.engine.dialect.name == "postgresql" else sqlite_insert
        statement = (
            insert(cast(Table, RuleFiringRow.__table__))
            .values(rule=rule, event_id=event_id, fired_at=at)
            .on_conflict_do_nothing(index_elements=["rule", "event_id"])
            .returning(RuleFiringRow.event_id)
        )
        async with self._db.transaction() as session:
            return (await session.execute(statement)).first() is not None

    async def set_aside(self, failure: RuleFailure) -> None:
        """Record that the rule gave up on the event (kept if it was recorded before)."""
        insert = pg_insert if self._db.engine.dialect.name == "postgresql" else sqlite_insert
        statement = (
            insert(cast(Table, RuleFailureRow.__table__))
            .values(
                rule=failure.rule,
                event_id=failure.event_id,
                error=failure.error[:120],
                message=failure.message,
                attempts=failure.attempts,
                failed_at=failure.failed_at,
            )
            .on_conflict_do_nothing(index_elements=["rule", "event_id"])
        )
        async with self._db.transaction() as session:
            await session.execute(statement)

    async def set_aside_after(self, position: LogPosition) -> set[tuple[str, int]]:
        """(rule, event id) of the events set aside that lie beyond ``position`` in the log: the
        ones a restarted engine reads again and must not try again."""
        query = select(RuleFailureRow.rule, RuleFailureRow.event_id).join(
            EventRow, EventRow.id == RuleFailureRow.event_id
        )
        async with self._db.sessions() as session:
            query = query.where(_beyond(session.bind.dialect.name, position))
            rows = (await session.execute(query)).all()
        return {(rule, event_id) for rule, event_id in rows}

    async def failures(self, limit: int = 50) -> list[RuleFailure]:
        """The latest events set aside, newest first."""
        query = select(RuleFailureRow).order_by(RuleFailureRow.failed_at.desc()).limit(limit)
        async with self._db.sessions() as session:
            rows = (await session.scalars(query)).all()
        return [RuleFailure(r.rule, r.event_id, r.error, r.message, r.attempts, r.failed_at) for r in rows]

    async def prune_firings(self, before: datetime, position: LogPosition, limit: int = PRUNE_CHUNK) -> int:
        """Delete up to ``limit`` claims made before ``before`` on events at or before ``position``
        (the engine never reads those again, and cooldowns look back less far than ``before``);
        how many went. A short transaction each: writers of events are not held up for long."""
        return await self._prune(RuleFiringRow, RuleFiringRow.fired_at < before, position, limit)

    async def prune_failures(self, before: datetime, position: LogPosition, limit: int = PRUNE_CHUNK) -> int:
        """Delete up to ``limit`` set-aside records made before ``before`` on events at or before
        ``position``; how many went."""
        return await self._prune(RuleFailureRow, RuleFailureRow.failed_at < before, position, limit)

    async def _prune(
        self,
        row: type[RuleFiringRow] | type[RuleFailureRow],
        old: ColumnElement[bool],
        position: LogPosition,
        limit: int,
    ) -> int:
        async with self._db.transaction() as session:
            found = (
                select(row.rule, row.event_id)
                .join(EventRow, EventRow.id == row.event_id)
                .where(old, ~_beyond(session.bind.dialect.name, position))
                .limit(limit)
            )
            keys = [tuple(key) for key in (await session.execute(found)).all()]
            if keys:
                await session.execute(delete(row).where(tuple_(row.rule, row.event_id).in_(keys)))
        return len(keys)

    async def interrupted(self, action: str, since: datetime) -> list[ActionOutcome]:
        """Outcomes of ``action`` cut short by a stop (detail ``INTERRUPTED...``) since ``since``,
        with nothing recorded for the same rule, event and action after them."""
        later = aliased(IncidentActionRow)
        query = (
            select(IncidentActionRow)
            .where(
                IncidentActionRow.action == action,
                IncidentActionRow.started_at >= since,
                IncidentActionRow.detail.startswith(INTERRUPTED),
                ~exists().where(
                    later.event_id == IncidentActionRow.event_id,
                    later.rule == IncidentActionRow.rule,
                    later.action == IncidentActionRow.action,
                    later.id > IncidentActionRow.id,
                ),
            )
            .order_by(IncidentActionRow.id)
        )
        async with self._db.sessions() as session:
            rows = (await session.scalars(query)).all()
        return [
            ActionOutcome(r.rule, r.action, r.ok, r.ms, r.detail, r.started_at, r.event_id, r.incident_id)
            for r in rows
        ]

    async def firings_since(self, since: datetime) -> list[tuple[str, StoredEvent]]:
        """(rule, event) of every firing claimed, or whose actions started, at ``since`` or later,
        oldest first: what a restarted engine must remember so that a replay or re-sync does not
        fire again (a firing whose actions had recorded nothing yet is claimed all the same)."""
        claimed = select(RuleFiringRow.rule, RuleFiringRow.event_id).where(RuleFiringRow.fired_at >= since)
        acted = select(IncidentActionRow.rule, IncidentActionRow.event_id).where(
            IncidentActionRow.started_at >= since
        )
        firings = claimed.union(acted).subquery()
        query = (
            select(firings.c.rule, EventRow)
            .join(EventRow, EventRow.id == firings.c.event_id)
            .order_by(EventRow.id, firings.c.rule)
        )
        async with self._db.sessions() as session:
            rows = (await session.execute(query)).all()
        return [(rule, row_to_event(event)) for rule, event in rows]

    async def for_incident(self, incident_id: int) -> list[ActionOutcome]:
        query = (
            select(IncidentActionRow)
            .where(IncidentActionRow.incident_id == incident_id)
            .order_by(IncidentActionRow.started_at, IncidentActionRow.id)
        )
        async with self._db.sessions() as session:
            rows = (await session.scalars(query)).all()
        return [
            ActionOutcome(r.rule, r.action, r.ok, r.ms, r.detail, r.started_at, r.event_id, r.incident_id)
            for r in rows
        ]


def _beyond(dialect: str, position: LogPosition) -> ColumnElement[bool]:
    """The events past ``position`` in the log's order (see ``vmsbridge.store.events.follow``)."""
    txid, last_id = position
    if dialect == "postgresql":
        return tuple_(EventRow.txid, EventRow.id) > tuple_(literal(txid), literal(last_id))
    return EventRow.id > last_id
