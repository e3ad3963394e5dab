"""Mask lifts, written together with their audit entry."""

from __future__ import annotations

__all__ = ["MaskLiftStore"]

from datetime import datetime

from sqlalchemy import select

from vmsbridge.model.evidence import MaskLiftRecord
from vmsbridge.store.audit import record
from vmsbridge.store.database import Database
from vmsbridge.store.tables import MaskLiftRow


def _record(row: MaskLiftRow) -> MaskLiftRecord:
    return MaskLiftRecord(
        row.camera_id, row.mask_label, row.actor, row.reason, row.granted_at, row.until, row.id
    )


class MaskLiftStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def grant(self, lift: MaskLiftRecord) -> MaskLiftRecord:
        async with self._db.transaction() as session:
            row = MaskLiftRow(
                camera_id=lift.camera_id,
                mask_label=lift.mask_label,
                actor=lift.actor,
                reason=lift.reason,
                granted_at=lift.granted_at,
                until=lift.until,
            )
            session.add(row)
            await session.flush()
            record(
                session,
                actor=lift.actor,
                action="mask.lifted",
                subject_type="camera",
                subject_id=lift.camera_id,
                details={
                    "mask": lift.mask_label,
                    "reason": lift.reason,
                    "until": lift.until.isoformat(),
                    "lift_id": row.id,
                },
                at=lift.granted_at,
            )
        return _record(row)

    async def for_camera(self, camera_id: str, *, active_at: datetime | None = None) -> list[MaskLiftRecord]:
        query = select(MaskLiftRow).where(MaskLiftRow.camera_id == camera_id).order_by(MaskLiftRow.id)
        if active_at is not None:
            query = query.where(MaskLiftRow.granted_at <= active_at, MaskLiftRow.until > active_at)
        async with self._db.sessions() as session:
            return [_record(r) for r in (await session.scalars(query)).all()]
