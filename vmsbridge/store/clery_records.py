"""Clery offense records, one per case number: a re-import of a case replaces it, never duplicates it."""

from __future__ import annotations

__all__ = ["CleryRecordStore"]

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from vmsbridge.errors import NotFound
from vmsbridge.model.clery import CleryRecord, ImportedRecord
from vmsbridge.store.audit import record as audit
from vmsbridge.store.database import Database
from vmsbridge.store.tables import CleryPersonRow, CleryRecordRow

# Keeps the IN (...) lists well under SQLite's and asyncpg's bound-parameter limits.
CHUNK = 500
_REPLACED_ON_REIMPORT = (
    "reported_at",
    "occurred_from",
    "occurred_to",
    "location_id",
    "unfounded",
    "disposition",
    "offenses",
    "arrests",
    "source",
    "updated_at",
    "updated_by",
)


def _record(row: CleryRecordRow) -> CleryRecord:
    # Stored rows were validated on import; strict=False lets the JSON strings become enums again.
    return CleryRecord.model_validate(
        {
            "case_number": row.case_number,
            "reported_at": row.reported_at,
            "occurred_from": row.occurred_from,
            "occurred_to": row.occurred_to,
            "location": row.location_id,
            "offenses": row.offenses,
            "arrests": row.arrests,
            "unfounded": row.unfounded,
            "disposition": row.disposition,
        },
        strict=False,
    )


class CleryRecordStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def upsert(
        self,
        items: Sequence[ImportedRecord],
        *,
        source: str,
        rejected: Sequence[tuple[int, str]],
        actor: str,
        now: datetime,
    ) -> tuple[list[str], list[str]]:
        """Insert new case numbers, replace stored ones; returns (imported, updated) case numbers.

        One transaction with its audit entry: either every good line of a file is stored, or none.
        """
        case_numbers = [item.record.case_number for item in items]
        if len(set(case_numbers)) != len(case_numbers):
            raise ValueError("upsert got the same case number twice; keep the latest line of each case")
        async with self._db.transaction() as session:
            existing: set[str] = set()
            for start in range(0, len(case_numbers), CHUNK):
                chunk = case_numbers[start : start + CHUNK]
                found = await session.scalars(
                    select(CleryRecordRow.case_number)
                    .where(CleryRecordRow.case_number.in_(chunk))
                    .order_by(CleryRecordRow.case_number)
                    .with_for_update()
                )
                existing.update(found)
            # Rows are locked and written in case-number order, so two imports that share cases
            # wait for each other instead of deadlocking (PostgreSQL).
            for item in sorted(items, key=lambda i: i.record.case_number):
                record_id = await self._upsert_one(session, item, source=source, actor=actor, now=now)
                await session.execute(delete(CleryPersonRow).where(CleryPersonRow.record_id == record_id))
                session.add_all(
                    CleryPersonRow(record_id=record_id, person_no=n, name=name)
                    for n, name in enumerate(item.persons, start=1)
                )
            imported = [c for c in case_numbers if c not in existing]
            updated = [c for c in case_numbers if c in existing]
            audit(
                session,
                actor=actor,
                action="clery.imported",
                subject_type="clery_import",
                subject_id=source,
                details={
                    "imported": imported,
                    "updated": updated,
                    "rejected": [{"line": line, "reason": reason} for line, reason in rejected],
                },
                at=now,
            )
        return imported, updated

    async def _upsert_one(
        self, session: AsyncSession, item: ImportedRecord, *, source: str, actor: str, now: datetime
    ) -> int:
        record = item.record
        values: dict[str, Any] = {
            "case_number": record.case_number,
            "reported_at": record.reported_at,
            "occurred_from": record.occurred_from,
            "occurred_to": record.occurred_to,
            "location_id": record.location,
            "unfounded": record.unfounded,
            "disposition": record.disposition,
            "offenses": [o.model_dump(mode="json") for o in record.offenses],
            "arrests": [a.model_dump(mode="json") for a in record.arrests],
            "source": source,
            "created_at": now,
            "created_by": actor,
            "updated_at": now,
            "updated_by": actor,
        }
        # INSERT ... ON CONFLICT DO UPDATE (both backends): a concurrent import of the same new case
        # number becomes an update instead of a unique-constraint failure.
        insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
        table = cast(Table, CleryRecordRow.__table__)
        new_row = insert(table).values(values)
        upsert = new_row.on_conflict_do_update(
            index_elements=["case_number"],
            set_={name: new_row.excluded[name] for name in _REPLACED_ON_REIMPORT},
        ).returning(table.c.id)
        return int((await session.execute(upsert)).scalar_one())

    async def get(self, case_number: str) -> CleryRecord:
        async with self._db.sessions() as session:
            row = await session.scalar(
                select(CleryRecordRow).where(CleryRecordRow.case_number == case_number)
            )
            if row is None:
                raise NotFound(f"no Clery record with case number {case_number!r}")
            return _record(row)

    async def records(
        self, *, reported_from: datetime | None = None, reported_before: datetime | None = None
    ) -> list[CleryRecord]:
        """Records reported in ``[reported_from, reported_before)``, by report time then case number."""
        query = select(CleryRecordRow).order_by(CleryRecordRow.reported_at, CleryRecordRow.case_number)
        if reported_from is not None:
            query = query.where(CleryRecordRow.reported_at >= reported_from)
        if reported_before is not None:
            query = query.where(CleryRecordRow.reported_at < reported_before)
        async with self._db.sessions() as session:
            return [_record(row) for row in await session.scalars(query)]

    async def persons(self, case_number: str) -> tuple[str, ...]:
        """Restricted: the names behind "person #1", "person #2"... of a record, in that order."""
        async with self._db.sessions() as session:
            rows = await session.scalars(
                select(CleryPersonRow.name)
                .join(CleryRecordRow, CleryRecordRow.id == CleryPersonRow.record_id)
                .where(CleryRecordRow.case_number == case_number)
                .order_by(CleryPersonRow.person_no)
            )
            return tuple(rows)
