"""Rules the daily crime log and the fire log share (34 CFR 668.46(f), 668.49(d)).

- Each entry and each later change is due by the end of the 2nd business day after the
  information was received (``BusinessCalendar.due_by``).
- Updates stop being required once the entry is more than 60 days old: such a change is still
  recorded, with no due-by time, and is never overdue.
- Nothing public may name a person (``vmsbridge.clery.names``): drafting, updating, publishing
  and releasing refuse public text that contains the name of someone recorded on its incident.
  A person recorded on the incident later can still make published text name them, so the
  export, as a last line of defence, shows such a field as withheld pending review (logged and
  audited) rather than print the name or fail the whole log.
- Times are checked as they are given: none in the future (beyond a few minutes of clock skew),
  no information received before the entry was reported, no occurrence range that ends before
  it starts, no occurrence that starts after it was reported.
"""

from __future__ import annotations

__all__ = [
    "CLOCK_SKEW",
    "NOT_PUBLIC",
    "OLDER_THAN_60_DAYS",
    "PENDING_REVIEW",
    "UPDATES_REQUIRED_DAYS",
    "NamesAPerson",
    "PendingItem",
    "check_entry_times",
    "check_no_names",
    "deadline_text",
    "entry_changes",
    "parse_field_value",
    "pending_items",
    "require_aware",
    "screen_names",
    "update_due_by",
    "update_field",
]

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import Field, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Generic, Protocol, TypeVar
from zoneinfo import ZoneInfo

from vmsbridge.clery.calendar import BusinessCalendar, calendar_for
from vmsbridge.clery.names import names_in
from vmsbridge.config import SiteConfig
from vmsbridge.errors import ValidationFailed, ValidationProblem, VmsBridgeError
from vmsbridge.model.publiclog import TIME_FIELDS, LogChange
from vmsbridge.store.publiclog import PublicLogStore

log = logging.getLogger(__name__)

UPDATES_REQUIRED_DAYS = 60
OLDER_THAN_60_DAYS = f"not required (entry older than {UPDATES_REQUIRED_DAYS} days)"
NOT_PUBLIC = "not required (not in the public log)"
# A time a few minutes ahead is a workstation clock off, not a report from the future.
CLOCK_SKEW = timedelta(minutes=5)
# What the export shows instead of a field that would name a person (see screen_names).
PENDING_REVIEW = "Withheld (pending review)"


class PublicEntry(Protocol):
    """What the shared rules read of an entry (a frozen dataclass of either log)."""

    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]

    @property
    def id(self) -> int: ...
    @property
    def incident_id(self) -> int | None: ...
    @property
    def reported_at(self) -> datetime: ...


EntryT = TypeVar("EntryT", bound=PublicEntry)


@dataclass(frozen=True)
class PendingItem(Generic[EntryT]):
    entry: EntryT
    change: LogChange
    overdue: bool


def require_aware(field: str, value: datetime | None) -> None:
    if value is not None and value.tzinfo is None:
        raise ValidationFailed([ValidationProblem(field, "needs a time zone (add Z or +hh:mm)")])


def _not_future(field: str, value: datetime | None, now: datetime) -> list[ValidationProblem]:
    if value is not None and value > now + CLOCK_SKEW:
        return [ValidationProblem(field, f"{value.isoformat()} is in the future")]
    return []


def check_entry_times(
    reported_at: datetime,
    occurred_from: datetime | None,
    occurred_to: datetime | None,
    *,
    now: datetime,
) -> None:
    """A new entry's times: each with its time zone, none in the future, the range in order.

    ValidationFailed names each field that is wrong.
    """
    times = (
        ("reported_at", reported_at),
        ("occurred_from", occurred_from),
        ("occurred_to", occurred_to),
    )
    for field, value in times:
        require_aware(field, value)
    problems = [p for field, value in times for p in _not_future(field, value, now)]
    if occurred_from and occurred_to and occurred_to < occurred_from:
        problems.append(
            ValidationProblem("occurred_to", "is before occurred_from", related=("occurred_from",))
        )
    if occurred_from and occurred_from > reported_at and not _not_future("", occurred_from, now):
        problems.append(
            ValidationProblem(
                "occurred_from",
                f"{occurred_from.isoformat()} is after reported_at {reported_at.isoformat()}: "
                "a crime or fire cannot start after it was reported",
                related=("reported_at",),
            )
        )
    if problems:
        raise ValidationFailed(problems, subject="times")


def update_due_by(
    calendar: BusinessCalendar, reported_at: datetime, received_at: datetime
) -> datetime | None:
    """The deadline of an update, or None once the entry is more than 60 days old.

    Days are counted between institution-local dates: an entry reported on 1 March may still need
    an update received on 30 April (day 60), not one received on 1 May (day 61).
    """
    reported_day = reported_at.astimezone(calendar.zone).date()
    received_day = received_at.astimezone(calendar.zone).date()
    if (received_day - reported_day).days > UPDATES_REQUIRED_DAYS:
        return None
    return calendar.due_by(received_at)


def deadline_text(change: LogChange, zone: ZoneInfo, *, not_public: Sequence[str] = ()) -> str:
    """The due-by time in institution time, or why the law sets none."""
    if change.due_by is None:
        return NOT_PUBLIC if change.field in not_public else OLDER_THAN_60_DAYS
    return change.due_by.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")


def parse_field_value(field: str, value: str, *, integer_fields: Sequence[str] = ()) -> object:
    """The typed ``value`` for the entry's ``field``; ValidationFailed (field ``value``) says what was
    expected."""
    if field in TIME_FIELDS:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValidationFailed(
                [ValidationProblem("value", f"{value!r} is not an ISO 8601 time")]
            ) from None
        require_aware("value", parsed)
        return parsed
    if field in integer_fields:
        try:
            number = int(value)
        except ValueError:
            number = -1
        if number < 0:
            raise ValidationFailed(
                [ValidationProblem("value", f"{field} must be a whole number >= 0, not {value!r}")]
            )
        return number
    if not value.strip():
        raise ValidationFailed([ValidationProblem("value", f"{field} cannot be empty")])
    return value.strip()


async def pending_items(
    store: PublicLogStore[Any, Any, EntryT], *, as_of: datetime
) -> list[PendingItem[EntryT]]:
    """Drafts and updates not yet published; overdue only where the law set a deadline that passed."""
    return [PendingItem(e, c, c.due_by is not None and as_of > c.due_by) for e, c in await store.pending()]


async def update_field(
    store: PublicLogStore[Any, Any, EntryT],
    site: SiteConfig,
    *,
    entry_id: int,
    field: str,
    value: str,
    actor: str,
    received_at: datetime | None,
    now: datetime | None,
    check_public: Callable[[EntryT], Awaitable[None]],
    integer_fields: Sequence[str] = (),
    no_deadline_fields: Sequence[str] = (),
) -> LogChange:
    """Change one field of an entry; the deadline runs from when the new information was received.

    Past 60 days from the report the change is still recorded, with no deadline (clery.md §1.5);
    ``no_deadline_fields`` are not public, so a change to them never has one. ``check_public``
    sees the entry as it would be after the change and refuses it if its public text would
    name a person.
    """
    if field not in store.editable_fields:
        raise ValidationFailed(
            [ValidationProblem("field", f"{field!r} is not one of {', '.join(store.editable_fields)}")]
        )
    parsed = parse_field_value(field, value, integer_fields=integer_fields)
    at = now or datetime.now(UTC)
    require_aware("received_at", received_at)
    entry = await store.get(entry_id)
    # By default the information came in now, but never before the report: a report time a few
    # minutes ahead (clock skew, allowed above) must not make an immediate update look impossible.
    received = received_at or max(at, entry.reported_at)
    problems = _not_future("received_at", received, at)
    if received < entry.reported_at:
        problems.append(
            ValidationProblem(
                "received_at",
                f"{received.isoformat()} is before the entry was reported ({entry.reported_at.isoformat()})",
            )
        )
    if isinstance(parsed, datetime):
        problems += _not_future("value", parsed, at)
    changed = dataclasses.replace(entry, **{field: parsed})
    start, end = (getattr(changed, f) for f in TIME_FIELDS)
    if field in TIME_FIELDS and start is not None and end is not None and end < start:
        problems.append(
            ValidationProblem(
                "value", f"occurred_to {end.isoformat()} would be before occurred_from {start.isoformat()}"
            )
        )
    if field == "occurred_from" and start is not None and start > entry.reported_at:
        problems.append(
            ValidationProblem(
                "value",
                f"occurred_from {start.isoformat()} would be after the entry was reported "
                f"({entry.reported_at.isoformat()})",
            )
        )
    if problems:
        raise ValidationFailed(problems, subject="update")
    await check_public(changed)
    due_by = None
    if field not in no_deadline_fields:
        due_by = update_due_by(calendar_for(site), entry.reported_at, received)
    return await store.update(
        entry_id, field, parsed, info_received_at=received, due_by=due_by, actor=actor, now=at
    )


async def entry_changes(store: PublicLogStore[Any, Any, Any], entry_id: int) -> list[LogChange]:
    """The entry and every change (NotFound if there is no such entry), oldest first."""
    await store.get(entry_id)
    return await store.changes(entry_id)


class NamesAPerson(VmsBridgeError):
    """A public log entry's text contains the name of a person recorded on its incident."""


async def check_no_names(
    store: PublicLogStore[Any, Any, Any],
    incident_id: int | None,
    public_text: Mapping[str, str | None],
    *,
    what: str,
) -> None:
    """Refuse (NamesAPerson) text about to become public that names a person on the incident.

    ``public_text`` holds the fields as the public would see them (withheld fields already
    replaced), so a withheld field never blocks. The message names ``what`` (the entry) and the
    fields, never the person.
    """
    if incident_id is None:
        return
    names = (await store.names_on_incidents([incident_id])).get(incident_id, [])
    fields = [field for field, text in public_text.items() if names_in(text, names)]
    if fields:
        raise NamesAPerson(
            f"refused, a public log never names a person: {what}: {', '.join(fields)} contains the "
            "name of a person on its incident; reword the text or withhold the field"
        )


async def screen_names(
    store: PublicLogStore[Any, Any, EntryT],
    entries: Sequence[EntryT],
    public_text: Mapping[int, Mapping[str, str | None]],
    *,
    noun: str,
    now: datetime,
) -> dict[int, set[str]]:
    """The fields of published entries that would name a person now: the export's last defence.

    Text is checked whenever it is made public, but a person recorded on the incident afterwards
    can make published text name them. Refusing the whole export would take the log away from
    the public for one entry, and printing the field would publish the name; so the field is
    shown as PENDING_REVIEW, and each such field is logged and audited (never the name) for
    staff to reword or withhold it.
    """
    incident_ids = {e.incident_id for e in entries if e.incident_id is not None}
    names = await store.names_on_incidents(incident_ids)
    hidden: dict[int, set[str]] = {}
    for entry in entries:
        people = names.get(entry.incident_id, []) if entry.incident_id is not None else []
        for field, text in public_text.get(entry.id, {}).items():
            if names_in(text, people):
                hidden.setdefault(entry.id, set()).add(field)
    for entry_id, fields in hidden.items():
        log.warning(
            "%s %d: %s would name a person on its incident; shown as %r until reworded or withheld",
            noun,
            entry_id,
            ", ".join(sorted(fields)),
            PENDING_REVIEW,
        )
    if hidden:
        await store.record_names_hidden(hidden, now=now)
    return hidden
