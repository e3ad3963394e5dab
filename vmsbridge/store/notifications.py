"""Notification drafts and decisions, the CAP messages issued, their delivery outbox, emergency tests.

Approval is one transaction: the decision, the CAP message and one outbox row per sink commit
together, so an issued alert can never be left without a delivery record (nor the reverse).
"""

from __future__ import annotations

__all__ = ["NotificationConflict", "NotificationStore"]

import dataclasses
import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from vmsbridge.errors import NotFound, StoreError
from vmsbridge.model.notifications import (
    EDITABLE_TEXT,
    CapMessage,
    EmergencyTest,
    NewCapMessage,
    NewNotification,
    Notification,
    NotificationDelivery,
)
from vmsbridge.store.audit import record
from vmsbridge.store.database import Database
from vmsbridge.store.tables import (
    CapMessageRow,
    EmergencyTestRow,
    IncidentRow,
    NotificationDeliveryRow,
    NotificationRow,
)


class NotificationConflict(StoreError):
    """The notification is not in the state the caller expected (decided already, or edited since)."""


_NEW_FIELDS = tuple(f.name for f in dataclasses.fields(NewNotification))


def _notification(row: NotificationRow) -> Notification:
    values: dict[str, Any] = {name: getattr(row, name) for name in _NEW_FIELDS}
    return Notification(
        **values,
        id=row.id,
        status=row.status,
        version=row.version,
        created_at=row.created_at,
        created_by=row.created_by,
        basis=row.basis,
        decided_at=row.decided_at,
        decided_by=row.decided_by,
        decline_reason=row.decline_reason,
    )


def _cap(row: CapMessageRow) -> CapMessage:
    return CapMessage(
        row.id,
        row.notification_id,
        row.identifier,
        row.sender,
        row.sent,
        row.sent_at,
        row.status,
        row.msg_type,
        row.references,
        row.xml.encode("utf-8"),
        row.sha256,
    )


def _delivery(row: NotificationDeliveryRow) -> NotificationDelivery:
    return NotificationDelivery(
        row.id,
        row.cap_message_id,
        row.sink,
        row.state,
        row.attempts,
        row.max_attempts,
        row.next_attempt_at,
        row.last_attempt_at,
        row.last_error,
        row.delivered_at,
        row.detail,
    )


def _test(row: EmergencyTestRow) -> EmergencyTest:
    return EmergencyTest(
        row.id,
        row.description,
        row.started_at,
        row.ended_at,
        row.announced,
        row.notification_id,
        row.recorded_at,
        row.recorded_by,
    )


async def _draft_row(session: AsyncSession, notification_id: int) -> NotificationRow:
    row = await session.get(NotificationRow, notification_id, with_for_update=True)
    if row is None:
        raise NotFound(f"notification {notification_id} does not exist")
    if row.status != "draft":
        raise NotificationConflict(f"notification {notification_id} is already {row.status}")
    return row


class NotificationStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- drafts and decisions ---------------------------------------------------------------

    async def create(self, new: NewNotification, *, actor: str, now: datetime) -> Notification:
        async with self._db.transaction() as session:
            if new.incident_id is not None and await session.get(IncidentRow, new.incident_id) is None:
                raise NotFound(f"incident {new.incident_id} does not exist")
            row = NotificationRow(
                **dataclasses.asdict(new), status="draft", version=1, created_at=now, created_by=actor
            )
            session.add(row)
            await session.flush()
            record(
                session,
                actor=actor,
                action="notification.drafted",
                subject_type="notification",
                subject_id=row.id,
                details={"kind": new.kind, "incident_id": new.incident_id, "msg_type": new.msg_type},
                at=now,
            )
        return _notification(row)

    async def get(self, notification_id: int) -> Notification:
        async with self._db.sessions() as session:
            row = await session.get(NotificationRow, notification_id)
            if row is None:
                raise NotFound(f"notification {notification_id} does not exist")
            return _notification(row)

    async def search(self, *, limit: int = 100) -> list[Notification]:
        async with self._db.sessions() as session:
            rows = await session.scalars(
                select(NotificationRow).order_by(NotificationRow.id.desc()).limit(limit)
            )
            return [_notification(r) for r in reversed(list(rows))]

    async def latest_to_clear(self, incident_id: int) -> Notification | None:
        """The incident's most recent warning still in force, which an all-clear ends.

        That is an approved timely warning or emergency notification (an Alert or an Update, of
        status Actual: never a test, an exercise or a Cancel), issued after the incident's last
        all-clear (which ended everything before it), that no approved Cancel withdrew.
        """
        cancelled = select(NotificationRow.follows_id).where(
            NotificationRow.status == "approved",
            NotificationRow.msg_type == "Cancel",
            NotificationRow.follows_id.is_not(None),
        )
        query = select(NotificationRow).where(
            NotificationRow.incident_id == incident_id,
            NotificationRow.status == "approved",
            NotificationRow.kind.in_(("timely_warning", "emergency")),
            NotificationRow.msg_type.in_(("Alert", "Update")),
            NotificationRow.cap_status == "Actual",
            NotificationRow.id.not_in(cancelled),
        )
        async with self._db.sessions() as session:
            last_clear = await session.scalar(
                select(NotificationRow.decided_at)
                .where(
                    NotificationRow.incident_id == incident_id,
                    NotificationRow.status == "approved",
                    NotificationRow.kind == "all_clear",
                    NotificationRow.msg_type != "Cancel",
                    NotificationRow.id.not_in(cancelled),
                )
                .order_by(NotificationRow.decided_at.desc())
            )
            if last_clear is not None:
                query = query.where(NotificationRow.decided_at > last_clear)
            row = await session.scalar(
                query.order_by(NotificationRow.decided_at.desc(), NotificationRow.id.desc())
            )
            return _notification(row) if row is not None else None

    async def edit(
        self, notification_id: int, changes: dict[str, str], *, actor: str, now: datetime
    ) -> Notification:
        unknown = set(changes) - set(EDITABLE_TEXT)
        if unknown:
            raise ValueError(
                f"only {', '.join(EDITABLE_TEXT)} can be edited, not {', '.join(sorted(unknown))}"
            )
        async with self._db.transaction() as session:
            row = await _draft_row(session, notification_id)
            for name, value in changes.items():
                setattr(row, name, value)
            row.version += 1
            record(
                session,
                actor=actor,
                action="notification.edited",
                subject_type="notification",
                subject_id=notification_id,
                details={"fields": sorted(changes), "version": row.version},
                at=now,
            )
        return _notification(row)

    async def approve(
        self,
        notification_id: int,
        *,
        expected_version: int,
        basis: str,
        cap: NewCapMessage,
        sinks: list[tuple[str, int]],
        actor: str,
        now: datetime,
    ) -> CapMessage:
        """Decide, store the CAP message and queue it for every ``(sink, max_attempts)`` at once.

        ``expected_version`` is the version whose text was checked and rendered: an edit in between
        makes this fail rather than issue text nobody checked.
        """
        async with self._db.transaction() as session:
            row = await _draft_row(session, notification_id)
            if row.version != expected_version:
                raise NotificationConflict(
                    f"notification {notification_id} was edited while being approved; approve it again"
                )
            row.status = "approved"
            row.basis = basis
            row.decided_at = now
            row.decided_by = actor
            message = CapMessageRow(
                notification_id=notification_id,
                identifier=cap.identifier,
                sender=cap.sender,
                sent=cap.sent,
                sent_at=cap.sent_at,
                status=cap.status,
                msg_type=cap.msg_type,
                references=cap.references,
                xml=cap.xml.decode("utf-8"),
                sha256=hashlib.sha256(cap.xml).hexdigest(),
            )
            session.add(message)
            await session.flush()
            for sink, max_attempts in sinks:
                session.add(
                    NotificationDeliveryRow(
                        cap_message_id=message.id,
                        sink=sink,
                        state="pending",
                        attempts=0,
                        max_attempts=max_attempts,
                        next_attempt_at=now,
                        created_at=now,
                    )
                )
            record(
                session,
                actor=actor,
                action="notification.approved",
                subject_type="notification",
                subject_id=notification_id,
                details={
                    "basis": basis,
                    "identifier": cap.identifier,
                    "sha256": message.sha256,
                    "sinks": [s for s, _ in sinks],
                },
                at=now,
            )
        return _cap(message)

    async def decline(self, notification_id: int, *, reason: str, actor: str, now: datetime) -> Notification:
        async with self._db.transaction() as session:
            row = await _draft_row(session, notification_id)
            row.status = "declined"
            row.decline_reason = reason
            row.decided_at = now
            row.decided_by = actor
            record(
                session,
                actor=actor,
                action="notification.declined",
                subject_type="notification",
                subject_id=notification_id,
                details={"reason": reason},
                at=now,
            )
        return _notification(row)

    async def record_refusal(
        self, *, incident_id: int | None, kind: str, fields: list[str], actor: str, now: datetime
    ) -> None:
        """Audit a draft or approval refused by the victim-name check (which fields; never the name)."""
        async with self._db.transaction() as session:
            record(
                session,
                actor=actor,
                action="notification.victim_name_refused",
                subject_type="incident" if incident_id is not None else "notification",
                subject_id=incident_id if incident_id is not None else "-",
                details={"kind": kind, "fields": fields},
                at=now,
            )

    # -- CAP messages and their delivery ----------------------------------------------------

    async def cap_message(self, notification_id: int) -> CapMessage | None:
        async with self._db.sessions() as session:
            row = await session.scalar(
                select(CapMessageRow).where(CapMessageRow.notification_id == notification_id)
            )
            return _cap(row) if row is not None else None

    async def deliveries(self, notification_ids: list[int]) -> dict[int, list[NotificationDelivery]]:
        """Outbox rows per notification id (empty for drafts and declined ones)."""
        if not notification_ids:
            return {}
        async with self._db.sessions() as session:
            rows = await session.execute(
                select(CapMessageRow.notification_id, NotificationDeliveryRow)
                .join(CapMessageRow, CapMessageRow.id == NotificationDeliveryRow.cap_message_id)
                .where(CapMessageRow.notification_id.in_(notification_ids))
                .order_by(NotificationDeliveryRow.id)
            )
            out: dict[int, list[NotificationDelivery]] = {n: [] for n in notification_ids}
            for notification_id, delivery in rows:
                out[notification_id].append(_delivery(delivery))
            return out

    async def due_deliveries(
        self, now: datetime, *, limit: int = 100
    ) -> list[tuple[NotificationDelivery, CapMessage]]:
        """Pending rows whose next attempt is due, oldest first."""
        async with self._db.sessions() as session:
            rows = await session.execute(
                select(NotificationDeliveryRow, CapMessageRow)
                .join(CapMessageRow, CapMessageRow.id == NotificationDeliveryRow.cap_message_id)
                .where(
                    NotificationDeliveryRow.state == "pending",
                    or_(
                        NotificationDeliveryRow.next_attempt_at.is_(None),
                        NotificationDeliveryRow.next_attempt_at <= now,
                    ),
                )
                .order_by(NotificationDeliveryRow.next_attempt_at, NotificationDeliveryRow.id)
                .limit(limit)
            )
            return [(_delivery(d), _cap(c)) for d, c in rows]

    async def next_due(self) -> datetime | None:
        """When the earliest pending delivery is next due (None when nothing is pending)."""
        async with self._db.sessions() as session:
            row = await session.scalar(
                select(NotificationDeliveryRow.next_attempt_at)
                .where(NotificationDeliveryRow.state == "pending")
                .order_by(NotificationDeliveryRow.next_attempt_at)
                .limit(1)
            )
            return row

    async def record_attempt(
        self,
        delivery_id: int,
        *,
        error: str | None,
        detail: str | None,
        retry_at: datetime | None,
        now: datetime,
    ) -> NotificationDelivery:
        """One attempt's outcome: delivered (no ``error``), pending until ``retry_at``, or failed for good."""
        async with self._db.transaction() as session:
            row = await session.get(NotificationDeliveryRow, delivery_id, with_for_update=True)
            if row is None:
                raise NotFound(f"delivery {delivery_id} does not exist")
            row.attempts += 1
            row.last_attempt_at = now
            row.detail = detail
            if error is None:
                row.state = "delivered"
                row.delivered_at = now
                row.next_attempt_at = None
                row.last_error = None
                action = "notification.delivered"
            else:
                row.last_error = error
                if row.attempts >= row.max_attempts or retry_at is None:
                    row.state = "failed"
                    row.next_attempt_at = None
                    action = "notification.delivery_failed"
                else:
                    row.next_attempt_at = retry_at
                    action = "notification.delivery_retry"
            notification_id = await session.scalar(
                select(CapMessageRow.notification_id).where(CapMessageRow.id == row.cap_message_id)
            )
            record(
                session,
                actor="vmsbridge:deliverer",
                action=action,
                subject_type="notification",
                subject_id=str(notification_id),
                details={"sink": row.sink, "attempt": row.attempts, "error": error, "detail": detail},
                at=now,
            )
        return _delivery(row)

    async def retry_failed(self, notification_id: int, *, actor: str, now: datetime) -> int:
        """Give failed deliveries of a notification a fresh round of attempts (they were never dropped)."""
        async with self._db.transaction() as session:
            rows = list(
                await session.scalars(
                    select(NotificationDeliveryRow)
                    .join(CapMessageRow, CapMessageRow.id == NotificationDeliveryRow.cap_message_id)
                    .where(
                        CapMessageRow.notification_id == notification_id,
                        NotificationDeliveryRow.state == "failed",
                    )
                    .with_for_update()
                )
            )
            for row in rows:
                row.state = "pending"
                row.max_attempts = row.attempts + row.max_attempts
                row.next_attempt_at = now
            if rows:
                record(
                    session,
                    actor=actor,
                    action="notification.delivery_requeued",
                    subject_type="notification",
                    subject_id=notification_id,
                    details={"sinks": [r.sink for r in rows]},
                    at=now,
                )
            return len(rows)

    # -- emergency tests --------------------------------------------------------------------

    async def record_test(
        self,
        *,
        description: str,
        started_at: datetime,
        ended_at: datetime,
        announced: bool,
        notification_id: int | None,
        actor: str,
        now: datetime,
    ) -> EmergencyTest:
        async with self._db.transaction() as session:
            row = EmergencyTestRow(
                description=description,
                started_at=started_at,
                ended_at=ended_at,
                announced=announced,
                notification_id=notification_id,
                recorded_at=now,
                recorded_by=actor,
            )
            session.add(row)
            await session.flush()
            record(
                session,
                actor=actor,
                action="emergency_test.recorded",
                subject_type="emergency_test",
                subject_id=row.id,
                details={"announced": announced, "notification_id": notification_id},
                at=now,
            )
        return _test(row)

    async def tests_between(self, start: datetime, end: datetime) -> list[EmergencyTest]:
        """Tests that started in ``[start, end)``."""
        async with self._db.sessions() as session:
            rows = await session.scalars(
                select(EmergencyTestRow)
                .where(EmergencyTestRow.started_at >= start, EmergencyTestRow.started_at < end)
                .order_by(EmergencyTestRow.started_at, EmergencyTestRow.id)
            )
            return [_test(r) for r in rows]
