"""Append-only audit log (the database refuses UPDATE and DELETE on it)."""

from __future__ import annotations

__all__ = ["AuditLog", "record"]

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vmsbridge.model.audit import AuditEntry
from vmsbridge.store.database import Database
from vmsbridge.store.tables import AuditRow


def record(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str | int,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> None:
    """Add an audit entry to the caller's transaction, so it commits (or not) with the change."""
    session.add(
        AuditRow(
            at=at or datetime.now(UTC),
            actor=actor,
            action=action,
            subject_type=subject_type,
            subject_id=str(subject_id),
            details=details or {},
        )
    )


class AuditLog:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def entries(
        self, subject_type: str | None = None, subject_id: str | int | None = None
    ) -> list[AuditEntry]:
        query = select(AuditRow).order_by(AuditRow.id)
        if subject_type is not None:
            query = query.where(AuditRow.subject_type == subject_type)
        if subject_id is not None:
            query = query.where(AuditRow.subject_id == str(subject_id))
        async with self._db.sessions() as session:
            rows = (await session.scalars(query)).all()
        return [
            AuditEntry(r.id, r.at, r.actor, r.action, r.subject_type, r.subject_id, dict(r.details or {}))
            for r in rows
        ]
