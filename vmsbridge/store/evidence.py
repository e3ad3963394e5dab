"""Evidence items and custody chains of incidents (the bytes live in the content store)."""

from __future__ import annotations

__all__ = ["EvidenceStore"]

import asyncio
import weakref
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from evidence.custody import CustodyEntry
from vmsbridge.errors import VmsBridgeError
from vmsbridge.model import IncidentStatus
from vmsbridge.model.evidence import EvidenceAudit, EvidenceItem
from vmsbridge.store.database import Database
from vmsbridge.store.tables import CustodyEntryRow, EvidenceAuditRow, EvidenceItemRow, IncidentRow


class DisposalRefused(VmsBridgeError):
    """An item may not be disposed of (any more): its incident is open or on legal hold, or it
    is gone already."""


def _audit(row: EvidenceAuditRow) -> EvidenceAudit:
    return EvidenceAudit(
        kind=row.kind,
        incident_id=row.incident_id,
        node=row.node,
        actor=row.actor,
        started_at=row.started_at,
        finished_at=row.finished_at,
        items_checked=row.items_checked,
        blobs_checked=row.blobs_checked,
        bytes_hashed=row.bytes_hashed,
        items=list(row.items) if row.items is not None else None,
        problems=list(row.problems),
        temporaries_removed=list(row.temporaries_removed),
        id=row.id,
    )


def _item(row: EvidenceItemRow) -> EvidenceItem:
    return EvidenceItem(
        row.incident_id,
        row.sha256,
        row.sha512,
        row.size,
        row.media_type,
        row.role,
        row.derived_from,
        row.file_name,
        row.camera_id,
        row.how,
        row.acquired_at,
        row.acquired_by,
        row.disposed_at,
        row.window_start,
        row.window_end,
    )


def _entry(row: CustodyEntryRow) -> CustodyEntry:
    return CustodyEntry(
        seq=row.seq,
        at=row.at,
        actor=row.actor,
        action=row.action,  # type: ignore[arg-type]
        item=row.item,
        purpose=row.purpose,
        details=dict(row.details or {}),
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def _entry_row(incident_id: int, entry: CustodyEntry) -> CustodyEntryRow:
    return CustodyEntryRow(
        incident_id=incident_id,
        seq=entry.seq,
        at=entry.at,
        actor=entry.actor,
        action=entry.action,
        item=entry.item,
        purpose=entry.purpose,
        details=entry.details,
        prev_hash=entry.prev_hash,
        hash=entry.hash,
    )


class EvidenceStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        # Appends to one incident's chain from this process take turns (a busy incident can have
        # dozens of rule firings attaching at once); other processes are caught by the unique
        # (incident_id, seq) key and retry.
        self._chain_locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    def chain_lock(self, incident_id: int) -> asyncio.Lock:
        lock = self._chain_locks.get(incident_id)
        if lock is None:
            lock = self._chain_locks[incident_id] = asyncio.Lock()
        return lock

    async def items(self, incident_id: int) -> list[EvidenceItem]:
        async with self._db.sessions() as session:
            rows = await session.scalars(
                select(EvidenceItemRow)
                .where(EvidenceItemRow.incident_id == incident_id)
                .order_by(EvidenceItemRow.id)
            )
            return [_item(r) for r in rows]

    async def live_items(self) -> list[EvidenceItem]:
        """Every item not disposed of, across incidents (for retention sweeps)."""
        async with self._db.sessions() as session:
            rows = await session.scalars(
                select(EvidenceItemRow)
                .where(EvidenceItemRow.disposed_at.is_(None))
                .order_by(EvidenceItemRow.id)
            )
            return [_item(r) for r in rows]

    async def expired_items(
        self, now: datetime, *, original_days: int, derived_days: int
    ) -> list[EvidenceItem]:
        """Items not disposed of whose retention (by role) has ended at ``now``, of incidents
        that are closed and not on legal hold: one query, for retention sweeps."""
        original_before = now - timedelta(days=original_days)
        derived_before = now - timedelta(days=derived_days)
        query = (
            select(EvidenceItemRow)
            .join(IncidentRow, IncidentRow.id == EvidenceItemRow.incident_id)
            .where(
                EvidenceItemRow.disposed_at.is_(None),
                IncidentRow.status != IncidentStatus.OPEN.value,
                IncidentRow.legal_hold.is_(False),
                or_(
                    and_(EvidenceItemRow.role == "original", EvidenceItemRow.acquired_at <= original_before),
                    and_(EvidenceItemRow.role != "original", EvidenceItemRow.acquired_at <= derived_before),
                ),
            )
            .order_by(EvidenceItemRow.id)
        )
        async with self._db.sessions() as session:
            return [_item(r) for r in await session.scalars(query)]

    async def mark_disposed(self, incident_id: int, sha256: str, entry: CustodyEntry) -> None:
        """The item's disposal time and its custody entry, in one transaction, if disposal is still
        allowed: the incident closed and not on legal hold, the item not disposed of yet. This is
        checked with the item's and incident's rows locked, in the transaction that writes, so a
        hold placed while a sweep runs wins (``set_flags`` locks the incident row too)."""
        query = (
            select(EvidenceItemRow, IncidentRow.status, IncidentRow.legal_hold)
            .join(IncidentRow, IncidentRow.id == EvidenceItemRow.incident_id)
            .where(EvidenceItemRow.incident_id == incident_id, EvidenceItemRow.sha256 == sha256)
            .with_for_update()
        )
        async with self._db.transaction() as session:
            found = (await session.execute(query)).one_or_none()
            if found is None:
                raise DisposalRefused(f"incident {incident_id} has no evidence item {sha256}")
            row, status, legal_hold = found
            if legal_hold:
                raise DisposalRefused(f"incident {incident_id} is on legal hold: item {sha256} is kept")
            if status == IncidentStatus.OPEN.value:
                raise DisposalRefused(f"incident {incident_id} is open: item {sha256} is kept")
            if row.disposed_at is not None:
                raise DisposalRefused(f"item {sha256} was disposed of at {row.disposed_at.isoformat()}")
            row.disposed_at = entry.at
            session.add(_entry_row(incident_id, entry))

    async def chain(self, incident_id: int) -> list[CustodyEntry]:
        async with self._db.sessions() as session:
            return await self._chain(session, incident_id)

    @staticmethod
    async def _chain(session: AsyncSession, incident_id: int) -> list[CustodyEntry]:
        rows = await session.scalars(
            select(CustodyEntryRow)
            .where(CustodyEntryRow.incident_id == incident_id)
            .order_by(CustodyEntryRow.seq)
        )
        return [_entry(r) for r in rows]

    async def record(self, incident_id: int, entry: CustodyEntry, item: EvidenceItem | None = None) -> None:
        """Add a custody entry (and the item it acquires) in one transaction.

        ``(incident_id, seq)`` is unique, so two writers extending the same chain cannot fork it:
        the second fails and must re-read the chain.
        """
        async with self._db.transaction() as session:
            if item is not None:
                session.add(
                    EvidenceItemRow(
                        incident_id=item.incident_id,
                        sha256=item.sha256,
                        sha512=item.sha512,
                        size=item.size,
                        media_type=item.media_type,
                        role=item.role,
                        derived_from=item.derived_from,
                        file_name=item.file_name,
                        camera_id=item.camera_id,
                        how=item.how,
                        acquired_at=item.acquired_at,
                        acquired_by=item.acquired_by,
                        window_start=item.window_start,
                        window_end=item.window_end,
                    )
                )
            session.add(_entry_row(incident_id, entry))

    async def record_audit(self, audit: EvidenceAudit) -> int:
        """Keep an audit's or export check's findings (rows are never changed); returns its id."""
        async with self._db.transaction() as session:
            row = EvidenceAuditRow(
                kind=audit.kind,
                incident_id=audit.incident_id,
                node=audit.node,
                actor=audit.actor,
                started_at=audit.started_at,
                finished_at=audit.finished_at,
                items_checked=audit.items_checked,
                blobs_checked=audit.blobs_checked,
                bytes_hashed=audit.bytes_hashed,
                items=audit.items,
                problems=audit.problems,
                temporaries_removed=audit.temporaries_removed,
            )
            session.add(row)
            await session.flush()
            return row.id

    async def last_audit(self, *, incident_id: int | None) -> EvidenceAudit | None:
        """The latest store audit covering ``incident_id`` (None: the latest of the whole store)."""
        scope = (
            EvidenceAuditRow.incident_id.is_(None)
            if incident_id is None
            else or_(EvidenceAuditRow.incident_id.is_(None), EvidenceAuditRow.incident_id == incident_id)
        )
        async with self._db.sessions() as session:
            row = await session.scalar(
                select(EvidenceAuditRow)
                .where(EvidenceAuditRow.kind == "audit", scope)
                .order_by(EvidenceAuditRow.started_at.desc(), EvidenceAuditRow.id.desc())
                .limit(1)
            )
            return _audit(row) if row is not None else None

    async def export_checks(self, incident_id: int, *, since: datetime | None = None) -> list[EvidenceAudit]:
        """The re-hashes exports of ``incident_id`` made (since ``since``), oldest first."""
        query = select(EvidenceAuditRow).where(
            EvidenceAuditRow.kind == "export", EvidenceAuditRow.incident_id == incident_id
        )
        if since is not None:
            query = query.where(EvidenceAuditRow.started_at >= since)
        async with self._db.sessions() as session:
            rows = await session.scalars(query.order_by(EvidenceAuditRow.started_at, EvidenceAuditRow.id))
            return [_audit(r) for r in rows]
