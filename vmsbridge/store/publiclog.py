"""What the crime log and the fire log share in storage: entries that are drafts until published,
and every change with its info-received, due-by and published times (the proof of the deadlines).

A change is written to the entry row at once, and stays a draft until the entry is published
again; ``published_between`` therefore undoes unpublished changes to show what the public saw.
"""

from __future__ import annotations

__all__ = ["PublicLogStore"]

import dataclasses
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy import select

from vmsbridge.errors import NotFound
from vmsbridge.model.publiclog import TIME_FIELDS, LogChange
from vmsbridge.store.audit import record
from vmsbridge.store.database import Database
from vmsbridge.store.tables import IncidentPersonRow, PublicLogChangeColumns, PublicLogEntryColumns

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

EntryRowT = TypeVar("EntryRowT", bound=PublicLogEntryColumns)
ChangeRowT = TypeVar("ChangeRowT", bound=PublicLogChangeColumns)
EntryT = TypeVar("EntryT", bound="DataclassInstance")

# The actor of what vmsbridge does by itself (an export hiding a field), not on anyone's command.
SYSTEM_ACTOR = "vmsbridge"


def _change(row: PublicLogChangeColumns) -> LogChange:
    return LogChange(
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


def as_text(value: object) -> str | None:
    """How a field value is kept in the change history."""
    if value is None:
        return None
    return value.isoformat() if isinstance(value, datetime) else str(value)


class PublicLogStore(Generic[EntryRowT, ChangeRowT, EntryT]):
    """Drafts, changes, publishing and the published state of one public log's entries.

    Subclasses give the row classes, the audit names and how a row becomes their entry type.
    """

    def __init__(
        self,
        db: Database,
        *,
        entry_row: type[EntryRowT],
        change_row: type[ChangeRowT],
        audit_prefix: str,
        subject_type: str,
        noun: str,
        editable_fields: tuple[str, ...],
        integer_fields: tuple[str, ...] = (),
    ) -> None:
        self._db = db
        self._entry_row = entry_row
        self._change_row = change_row
        self._prefix = audit_prefix  # actions are <prefix>.drafted, .changed, .published
        self._subject = subject_type
        self._noun = noun
        self.editable_fields = editable_fields
        self._integer_fields = integer_fields

    def _entry(self, row: EntryRowT) -> EntryT:
        raise NotImplementedError

    def _missing(self, entry_id: int) -> NotFound:
        return NotFound(f"{self._noun} {entry_id} does not exist")

    async def _create(
        self, row: EntryRowT, *, due_by: datetime | None, actor: str, now: datetime, details: dict[str, Any]
    ) -> EntryT:
        """Store a new draft entry and its first change (the entry itself, due from its report)."""
        async with self._db.transaction() as session:
            session.add(row)
            await session.flush()
            first = self._change_row(
                entry_id=row.id,
                field="entry",
                old_value=None,
                new_value=row.nature,
                info_received_at=row.reported_at,
                due_by=due_by,
                changed_at=now,
                actor=actor,
            )
            session.add(first)
            record(
                session,
                actor=actor,
                action=f"{self._prefix}.drafted",
                subject_type=self._subject,
                subject_id=row.id,
                details={**details, "due_by": as_text(due_by)},
                at=now,
            )
        return self._entry(row)

    async def get(self, entry_id: int) -> EntryT:
        async with self._db.sessions() as session:
            row = await session.get(self._entry_row, entry_id)
            if row is None:
                raise self._missing(entry_id)
            return self._entry(row)

    async def changes(self, entry_id: int) -> list[LogChange]:
        async with self._db.sessions() as session:
            rows = await session.scalars(
                select(self._change_row)
                .where(self._change_row.entry_id == entry_id)
                .order_by(self._change_row.id)
            )
            return [_change(r) for r in rows]

    async def update(
        self,
        entry_id: int,
        field: str,
        value: object,
        *,
        info_received_at: datetime,
        due_by: datetime | None,
        actor: str,
        now: datetime,
    ) -> LogChange:
        if field not in self.editable_fields:
            raise ValueError(f"field {field!r} is not one of {', '.join(self.editable_fields)}")
        async with self._db.transaction() as session:
            row = await session.get(self._entry_row, entry_id, with_for_update=True)
            if row is None:
                raise self._missing(entry_id)
            old = getattr(row, field)
            setattr(row, field, value)
            change = self._change_row(
                entry_id=entry_id,
                field=field,
                old_value=as_text(old),
                new_value=as_text(value),
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
                action=f"{self._prefix}.changed",
                subject_type=self._subject,
                subject_id=entry_id,
                details={"field": field, "due_by": as_text(due_by)},
                at=now,
            )
        return _change(change)

    async def publish(self, entry_id: int, *, actor: str, now: datetime) -> EntryT:
        """Publish the entry (first time) and every change not yet published."""
        async with self._db.transaction() as session:
            row = await session.get(self._entry_row, entry_id, with_for_update=True)
            if row is None:
                raise self._missing(entry_id)
            row.status = "published"
            row.published_at = row.published_at or now
            pending = await session.scalars(
                select(self._change_row).where(
                    self._change_row.entry_id == entry_id, self._change_row.published_at.is_(None)
                )
            )
            count = 0
            for change in pending:
                change.published_at = now
                count += 1
            record(
                session,
                actor=actor,
                action=f"{self._prefix}.published",
                subject_type=self._subject,
                subject_id=entry_id,
                details={"changes": count},
                at=now,
            )
        return await self.get(entry_id)

    async def pending(self) -> list[tuple[EntryT, LogChange]]:
        """Unpublished entries and updates, soonest deadline first (those with none last)."""
        async with self._db.sessions() as session:
            rows = await session.execute(
                select(self._entry_row, self._change_row)
                .join(self._change_row, self._change_row.entry_id == self._entry_row.id)
                .where(self._change_row.published_at.is_(None))
                .order_by(self._change_row.due_by.is_(None), self._change_row.due_by, self._change_row.id)
            )
            return [(self._entry(e), _change(c)) for e, c in rows]

    async def published_between(self, start: datetime, end: datetime) -> list[EntryT]:
        """Published entries reported in [start, end), newest reported first, as the public saw them."""
        async with self._db.sessions() as session:
            rows = list(
                await session.scalars(
                    select(self._entry_row)
                    .where(
                        self._entry_row.status == "published",
                        self._entry_row.reported_at >= start,
                        self._entry_row.reported_at < end,
                    )
                    .order_by(self._entry_row.reported_at.desc(), self._entry_row.id.desc())
                )
            )
            unpublished = await session.scalars(
                select(self._change_row)
                .where(
                    self._change_row.entry_id.in_([r.id for r in rows]),
                    self._change_row.published_at.is_(None),
                    self._change_row.field != "entry",
                )
                .order_by(self._change_row.id)
            )
            # The oldest unpublished change of a field holds the value last published.
            undo: dict[int, dict[str, Any]] = {}
            for change in unpublished:
                undo.setdefault(change.entry_id, {}).setdefault(
                    change.field, self._parse(change.field, change.old_value)
                )
            return [dataclasses.replace(self._entry(r), **undo.get(r.id, {})) for r in rows]

    def _parse(self, field: str, text: str | None) -> object:
        if text is None:
            return None
        if field in TIME_FIELDS:
            return datetime.fromisoformat(text)
        if field in self._integer_fields:
            return int(text)
        return text

    async def record_names_hidden(self, fields: Mapping[int, Collection[str]], *, now: datetime) -> None:
        """Audit fields the export showed as pending review because they would name a person."""
        async with self._db.transaction() as session:
            for entry_id, names in fields.items():
                record(
                    session,
                    actor=SYSTEM_ACTOR,
                    action=f"{self._prefix}.name_hidden",
                    subject_type=self._subject,
                    subject_id=entry_id,
                    details={"fields": sorted(names)},  # the field names only, never the text
                    at=now,
                )

    async def names_on_incidents(self, incident_ids: Collection[int]) -> dict[int, list[str]]:
        """Names of the people recorded on these incidents (restricted data, for the name check only)."""
        if not incident_ids:
            return {}
        async with self._db.sessions() as session:
            rows = await session.execute(
                select(IncidentPersonRow.incident_id, IncidentPersonRow.name).where(
                    IncidentPersonRow.incident_id.in_(list(incident_ids))
                )
            )
            names: dict[int, list[str]] = {}
            for incident_id, name in rows:
                names.setdefault(incident_id, []).append(name)
            return names
