"""Daily-crime-log entries and their change history (the proof of the 2-business-day rule)."""

from __future__ import annotations

__all__ = ["EDITABLE_FIELDS", "CrimeLogChange", "CrimeLogEntry", "CrimeLogStore", "Withholding"]

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from vmsbridge.errors import NotFound
from vmsbridge.store.audit import record
from vmsbridge.store.database import Database
from vmsbridge.store.tables import CrimeLogChangeRow, CrimeLogEntryRow, CrimeLogWithholdingRow

EDITABLE_FIELDS = ("nature", "occurred_from", "occurred_to", "general_location", "disposition")


@dataclass(frozen=True)
class CrimeLogEntry:
    id: int
    incident_id: int | None
    status: str  # "draft" | "published"
    nature: str
    reported_at: datetime
    occurred_from: datetime | None
    occurred_to: datetime | None
    location_id: str
    general_location: str
    disposition: str
    created_at: datetime
    created_by: str
    published_at: datetime | None


@dataclass(frozen=True)
class CrimeLogChange:
    id: int
    entry_id: int
    field: str  # "entry" for the entry itself
    old_value: str | None
    new_value: str | None
    info_received_at: datetime
    due_by: datetime
    changed_at: datetime
    actor: str
    published_at: datetime | None


@dataclass(frozen=True)
class Withholding:
    id: int
    entry_id: int
    field: str
    reason: str
    note: str
    actor: str
    withheld_at: datetime
    review_by: datetime
    released_at: datetime | None
    released_by: str | None


def _withholding(row: CrimeLogWithholdingRow) -> Withholding:
    return Withholding(
        row.id,
        row.entry_id,
        row.field,
        row.reason,
        row.note,
        row.actor,
        row.withheld_at,
        row.review_by,
        row.released_at,
        row.released_by,
    )


def _entry(row: CrimeLogEntryRow) -> CrimeLogEntry:
    return CrimeLogEntry(
        row.id,
        row.incident_id,
        row.status,
        row.nature,
        row.reported_at,
        row.occurred_from,
        row.occurred_to,
        row.location_id,
        row.general_location,
        row.disposition,
        row.created_at,
        row.created_by,
        row.published_at,
    )


def _change(row: CrimeLogChangeRow) -> CrimeLogChange:
    return CrimeLogChange(
        row.id,
        row.entry_id,
        row.field,
        row.old_value,
        row.new_value,
        row.info_received_at,
        row.due_by,
        row.changed_at,
        row.actor,
        row.published_at,
    )


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, datetime) else str(value)


class CrimeLogStore:
    def __init__(self, db: Database) -> None:
        self._db = db

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
        disposition: str,
        due_by: datetime,
        actor: str,
        now: datetime,
    ) -> CrimeLogEntry:
        async with self._db.transaction() as session:
            row = CrimeLogEntryRow(
                incident_id=incident_id,
                status="draft",
                nature=nature,
                reported_at=reported_at,
                occurred_from=occurred_from,
                occurred_to=occurred_to,
                location_id=location_id,
                general_location=general_location,
                disposition=disposition,
                created_at=now,
                created_by=actor,
            )
            session.add(row)
            await session.flush()
            session.add(
                CrimeLogChangeRow(
                    entry_id=row.id,
                    field="entry",
                    old_value=None,
                    new_value=nature,
                    info_received_at=reported_at,
                    due_by=due_by,
                    changed_at=now,
                    actor=actor,
                )
            )
            record(
                session,
                actor=actor,
                action="crimelog.drafted",
                subject_type="crime_log",
                subject_id=row.id,
                details={"incident_id": incident_id, "due_by": due_by.isoformat()},
                at=now,
            )
        return _entry(row)

    async def get(self, entry_id: int) -> CrimeLogEntry:
        async with self._db.sessions() as session:
            row = await session.get(CrimeLogEntryRow, entry_id)
            if row is None:
                raise NotFound(f"crime-log entry {entry_id} does not exist")
            return _entry(row)

    async def changes(self, entry_id: int) -> list[CrimeLogChange]:
        async with self._db.sessions() as session:
            rows = await session.scalars(
                select(CrimeLogChangeRow)
                .where(CrimeLogChangeRow.entry_id == entry_id)
                .order_by(CrimeLogChangeRow.id)
            )
            return [_change(r) for r in rows]

    async def update(
        self,
        entry_id: int,
        field: str,
        value: object,
        *,
        info_received_at: datetime,
        due_by: datetime,
        actor: str,
        now: datetime,
    ) -> CrimeLogChange:
        if field not in EDITABLE_FIELDS:
            raise ValueError(f"field {field!r} is not one of {', '.join(EDITABLE_FIELDS)}")
        async with self._db.transaction() as session:
            row = await session.get(CrimeLogEntryRow, entry_id, with_for_update=True)
            if row is None:
                raise NotFound(f"crime-log entry {entry_id} does not exist")
            old = getattr(row, field)
            setattr(row, field, value)
            change = CrimeLogChangeRow(
                entry_id=entry_id,
                field=field,
                old_value=_text(old),
                new_value=_text(value),
                info_received_at=info_received_at,
                due_by=due_by,
                changed_at=now,
                actor=actor,
            )
            session.add(change)
            await session.flush()
            record(
                session,
                actor=actor,
                action="crimelog.changed",
                subject_type="crime_log",
                subject_id=entry_id,
                details={"field": field, "due_by": due_by.isoformat()},
                at=now,
            )
        return _change(change)

    async def publish(self, entry_id: int, *, actor: str, now: datetime) -> CrimeLogEntry:
        """Publish the entry (first time) and every change not yet published."""
        async with self._db.transaction() as session:
            row = await session.get(CrimeLogEntryRow, entry_id, with_for_update=True)
            if row is None:
                raise NotFound(f"crime-log entry {entry_id} does not exist")
            row.status = "published"
            row.published_at = row.published_at or now
            pending = await session.scalars(
                select(CrimeLogChangeRow).where(
                    CrimeLogChangeRow.entry_id == entry_id, CrimeLogChangeRow.published_at.is_(None)
                )
            )
            count = 0
            for change in pending:
                change.published_at = now
                count += 1
            record(
                session,
                actor=actor,
                action="crimelog.published",
                subject_type="crime_log",
                subject_id=entry_id,
                details={"changes": count},
                at=now,
            )
        return await self.get(entry_id)

    async def pending(self) -> list[tuple[CrimeLogEntry, CrimeLogChange]]:
        """Unpublished entries and updates, soonest deadline first."""
        async with self._db.sessions() as session:
            rows = await session.execute(
                select(CrimeLogEntryRow, CrimeLogChangeRow)
                .join(CrimeLogChangeRow, CrimeLogChangeRow.entry_id == CrimeLogEntryRow.id)
                .where(CrimeLogChangeRow.published_at.is_(None))
                .order_by(CrimeLogChangeRow.due_by, CrimeLogChangeRow.id)
            )
            return [(_entry(e), _change(c)) for e, c in rows]

    async def withhold(
        self,
        entry_id: int,
        *,
        field: str,
        reason: str,
        note: str,
        actor: str,
        review_by: datetime,
        now: datetime,
    ) -> Withholding:
        async with self._db.transaction() as session:
            if await session.get(CrimeLogEntryRow, entry_id) is None:
                raise NotFound(f"crime-log entry {entry_id} does not exist")
            row = CrimeLogWithholdingRow(
                entry_id=entry_id,
                field=field,
                reason=reason,
                note=note,
                actor=actor,
                withheld_at=now,
                review_by=review_by,
            )
            session.add(row)
            await session.flush()
            record(
                session,
                actor=actor,
                action="crimelog.withheld",
                subject_type="crime_log",
                subject_id=entry_id,
                details={"field": field, "reason": reason, "review_by": review_by.isoformat()},
                at=now,
            )
        return _withholding(row)

    async def release(self, entry_id: int, *, field: str, actor: str, now: datetime) -> Withholding:
        async with self._db.transaction() as session:
            row = await session.scalar(
                select(CrimeLogWithholdingRow)
                .where(
                    CrimeLogWithholdingRow.entry_id == entry_id,
                    CrimeLogWithholdingRow.field == field,
                    CrimeLogWithholdingRow.released_at.is_(None),
                )
                .with_for_update()
            )
            if row is None:
                raise NotFound(f"field {field!r} of crime-log entry {entry_id} is not withheld")
            row.released_at = now
            row.released_by = actor
            record(
                session,
                actor=actor,
                action="crimelog.released",
                subject_type="crime_log",
                subject_id=entry_id,
                details={"field": field},
                at=now,
            )
        return _withholding(row)

    async def withholdings(self, entry_id: int) -> list[Withholding]:
        async with self._db.sessions() as session:
            rows = await session.scalars(
                select(CrimeLogWithholdingRow)
                .where(CrimeLogWithholdingRow.entry_id == entry_id)
                .order_by(CrimeLogWithholdingRow.id)
            )
            return [_withholding(r) for r in rows]
