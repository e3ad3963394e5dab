"""Fire-log entries for student-housing facilities and their change history (34 CFR 668.49(d))."""

from __future__ import annotations

__all__ = ["FireLogStore"]

from datetime import datetime

from sqlalchemy import select

from vmsbridge.model.firelog import FIRE_LOG_EDITABLE_FIELDS, INTEGER_FIELDS, FireLogEntry
from vmsbridge.store.database import Database
from vmsbridge.store.publiclog import PublicLogStore
from vmsbridge.store.tables import FireLogChangeRow, FireLogEntryRow


def _entry(row: FireLogEntryRow) -> FireLogEntry:
    return FireLogEntry(
        row.id,
        row.incident_id,
        row.status,
        row.nature,
        row.reported_at,
        row.occurred_from,
        row.occurred_to,
        row.location_id,
        row.general_location,
        row.cause,
        row.injuries,
        row.deaths,
        row.damage_usd,
        row.created_at,
        row.created_by,
        row.published_at,
    )


class FireLogStore(PublicLogStore[FireLogEntryRow, FireLogChangeRow, FireLogEntry]):
    def __init__(self, db: Database) -> None:
        super().__init__(
            db,
            entry_row=FireLogEntryRow,
            change_row=FireLogChangeRow,
            audit_prefix="firelog",
            subject_type="fire_log",
            noun="fire-log entry",
            editable_fields=FIRE_LOG_EDITABLE_FIELDS,
            integer_fields=INTEGER_FIELDS,
        )

    def _entry(self, row: FireLogEntryRow) -> FireLogEntry:
        return _entry(row)

    async def create(
        self,
        *,
        incident_id: int | None,
        nature: str,
        reported_at: datetime,
        occurred_from: datetime | None,
        occurred_to: datetime | None,
        location_id: str,
        general_location: str,
        cause: str | None,
        injuries: int,
        deaths: int,
        damage_usd: int,
        due_by: datetime,
        actor: str,
        now: datetime,
    ) -> FireLogEntry:
        row = FireLogEntryRow(
            incident_id=incident_id,
            status="draft",
            nature=nature,
            reported_at=reported_at,
            occurred_from=occurred_from,
            occurred_to=occurred_to,
            location_id=location_id,
            general_location=general_location,
            cause=cause,
            injuries=injuries,
            deaths=deaths,
            damage_usd=damage_usd,
            created_at=now,
            created_by=actor,
        )
        return await self._create(
            row,
            due_by=due_by,
            actor=actor,
            now=now,
            details={"incident_id": incident_id, "location_id": location_id},
        )

    async def reported_between(self, start: datetime, end: datetime) -> list[FireLogEntry]:
        """Every fire (draft or published) reported in [start, end): the basis of the statistics."""
        async with self._db.sessions() as session:
            rows = await session.scalars(
                select(FireLogEntryRow)
                .where(FireLogEntryRow.reported_at >= start, FireLogEntryRow.reported_at < end)
                .order_by(FireLogEntryRow.reported_at, FireLogEntryRow.id)
            )
            return [_entry(r) for r in rows]
