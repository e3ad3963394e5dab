"""People recorded on an incident (victim, witness, suspect, reporter): a restricted table.

Names are read only by checks that keep them out of public text (the victim-name check of
notifications); listings get counts per role, never names.
"""

from __future__ import annotations

__all__ = ["ROLES", "IncidentPeopleStore"]

from datetime import datetime

from sqlalchemy import func, select

from vmsbridge.errors import NotFound
from vmsbridge.store.audit import record
from vmsbridge.store.database import Database
from vmsbridge.store.tables import IncidentPersonRow, IncidentRow

ROLES = ("victim", "witness", "suspect", "reporter")


class IncidentPeopleStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, incident_id: int, *, role: str, name: str, actor: str, now: datetime) -> int:
        """Record a person; the audit entry keeps the role only, so the audit log holds no names."""
        if role not in ROLES:
            raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")
        async with self._db.transaction() as session:
            if await session.get(IncidentRow, incident_id) is None:
                raise NotFound(f"incident {incident_id} does not exist")
            row = IncidentPersonRow(
                incident_id=incident_id, role=role, name=name, recorded_at=now, recorded_by=actor
            )
            session.add(row)
            await session.flush()
            record(
                session,
                actor=actor,
                action="incident.person_recorded",
                subject_type="incident",
                subject_id=incident_id,
                details={"role": role, "person_id": row.id},
                at=now,
            )
            return row.id

    async def names(self, incident_id: int, role: str) -> list[str]:
        async with self._db.sessions() as session:
            rows = await session.scalars(
                select(IncidentPersonRow.name)
                .where(IncidentPersonRow.incident_id == incident_id, IncidentPersonRow.role == role)
                .order_by(IncidentPersonRow.id)
            )
            return list(rows)

    async def counts(self, incident_id: int) -> dict[str, int]:
        """How many people of each role are recorded (the only form in which they are shown)."""
        async with self._db.sessions() as session:
            rows = await session.execute(
                select(IncidentPersonRow.role, func.count())
                .where(IncidentPersonRow.incident_id == incident_id)
                .group_by(IncidentPersonRow.role)
            )
            found = {role: int(n) for role, n in rows}
        return {role: found.get(role, 0) for role in ROLES}
