"""The record of what rules did: one row per action, kept with the incident it served."""

from __future__ import annotations

__all__ = ["RuleActionStore"]

from datetime import datetime
from typing import cast

from sqlalchemy import Table, exists, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import aliased

from vmsbridge.model import StoredEvent
from vmsbridge.model.rules import INTERRUPTED, ActionOutcome
from vmsbridge.store.database import Database
from vmsbridge.store.events import row_to_event
from vmsbridge.store.tables import EventRow, IncidentActionRow, RuleFiringRow


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
