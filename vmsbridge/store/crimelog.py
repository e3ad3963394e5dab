"""Daily-crime-log entries and their change history (the proof of the 2-business-day rule)."""

from __future__ import annotations

__all__ = ["AlreadyWithheld", "CrimeLogStore"]

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select

from vmsbridge.errors import NotFound, StoreError
from vmsbridge.model.crimelog import CRIME_LOG_EDITABLE_FIELDS, CrimeLogEntry, Withholding
from vmsbridge.store.audit import record
from vmsbridge.store.database import Database
from vmsbridge.store.publiclog import PublicLogStore
from vmsbridge.store.tables import CrimeLogChangeRow, CrimeLogEntryRow, CrimeLogWithholdingRow


class AlreadyWithheld(StoreError):
    """The field is withheld already; a second withholding would outlive the release of the first."""


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


class CrimeLogStore(PublicLogStore[CrimeLogEntryRow, CrimeLogChangeRow, CrimeLogEntry]):
    def __init__(self, db: Database) -> None:
        super().__init__(
            db,
            entry_row=CrimeLogEntryRow,
            change_row=CrimeLogChangeRow,
            audit_prefix="crimelog",
            subject_type="crime_log",
            noun="crime-log entry",
            editable_fields=CRIME_LOG_EDITABLE_FIELDS,
        )

    def _entry(self, row: CrimeLogEntryRow) -> CrimeLogEntry:
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
        disposition: str,
        due_by: datetime,
        actor: str,
        now: datetime,
    ) -> CrimeLogEntry:
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
        return await self._create(
            row, due_by=due_by, actor=actor, now=now, details={"incident_id": incident_id}
        )

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
            # Locking the entry serializes withholdings of it, so two cannot both pass the check below.
            if await session.get(CrimeLogEntryRow, entry_id, with_for_update=True) is None:
                raise self._missing(entry_id)
            current = await session.scalar(
                select(CrimeLogWithholdingRow).where(
                    CrimeLogWithholdingRow.entry_id == entry_id,
                    CrimeLogWithholdingRow.field == field,
                    CrimeLogWithholdingRow.released_at.is_(None),
                )
            )
            if current is not None:
                raise AlreadyWithheld(
                    f"field {field!r} of crime-log entry {entry_id} is already withheld "
                    f"({current.reason}, since {current.withheld_at.isoformat()}); release it first"
                )
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

    async def reviews_due(self, as_of: datetime) -> list[tuple[CrimeLogEntry, Withholding]]:
        """Withholdings in force (made by ``as_of``, not released) whose review date passed before
        ``as_of``, the longest overdue first."""
        async with self._db.sessions() as session:
            rows = await session.execute(
                select(CrimeLogEntryRow, CrimeLogWithholdingRow)
                .join(CrimeLogWithholdingRow, CrimeLogWithholdingRow.entry_id == CrimeLogEntryRow.id)
                .where(
                    CrimeLogWithholdingRow.released_at.is_(None),
                    CrimeLogWithholdingRow.withheld_at <= as_of,
                    CrimeLogWithholdingRow.review_by < as_of,
                )
                .order_by(CrimeLogWithholdingRow.review_by, CrimeLogWithholdingRow.id)
            )
            return [(_entry(e), _withholding(w)) for e, w in rows]

    async def withheld_fields(self, entry_ids: Collection[int]) -> dict[int, set[str]]:
        """The fields of each entry withheld right now (not yet released)."""
        async with self._db.sessions() as session:
            rows = await session.execute(
                select(CrimeLogWithholdingRow.entry_id, CrimeLogWithholdingRow.field).where(
                    CrimeLogWithholdingRow.entry_id.in_(list(entry_ids)),
                    CrimeLogWithholdingRow.released_at.is_(None),
                )
            )
            withheld: dict[int, set[str]] = {}
            for entry_id, field in rows:
                withheld.setdefault(entry_id, set()).add(field)
            return withheld
