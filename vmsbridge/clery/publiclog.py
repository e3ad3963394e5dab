"""Rules the daily crime log and the fire log share (34 CFR 668.46(f), 668.49(d)).

- Each entry and each later change is due by the end of the 2nd business day after the
  information was received (``BusinessCalendar.due_by``).
- Updates stop being required once the entry is more than 60 days old: such a change is still
  recorded, with no due-by time, and is never overdue.
- Nothing public may name a person: publishing and exporting refuse an entry whose public text
  contains the name of someone recorded on its incident.
"""

from __future__ import annotations

__all__ = [
    "NOT_PUBLIC",
    "OLDER_THAN_60_DAYS",
    "UPDATES_REQUIRED_DAYS",
    "PendingItem",
    "check_no_names",
    "deadline_text",
    "entry_changes",
    "parse_field_value",
    "pending_items",
    "require_aware",
    "require_aware_times",
    "update_due_by",
    "update_field",
]

import re
from collections.abc import Mapping, Sequence
from dataclasses import Field, dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, Protocol, TypeVar
from zoneinfo import ZoneInfo

from vmsbridge.clery.calendar import BusinessCalendar, calendar_for
from vmsbridge.config import SiteConfig
from vmsbridge.errors import ConfigError, ConfigProblem, VmsBridgeError
from vmsbridge.store.publiclog import TIME_FIELDS, LogChange, PublicLogStore

UPDATES_REQUIRED_DAYS = 60
OLDER_THAN_60_DAYS = f"not required (entry older than {UPDATES_REQUIRED_DAYS} days)"
NOT_PUBLIC = "not required (not in the public log)"
# Shorter name parts ("Al", "Jo") match too many ordinary words to be a useful signal.
SHORTEST_NAME_PART = 3


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


def require_aware(option: str, value: datetime | None) -> None:
    if value is not None and value.tzinfo is None:
        raise ConfigError(option, [ConfigProblem(option, "needs a time zone (add Z or +hh:mm)")])


def require_aware_times(
    reported_at: datetime, occurred_from: datetime | None, occurred_to: datetime | None
) -> None:
    """A new entry's times, each with its time zone; ConfigError names the first option without."""
    for option, value in (
        ("--reported-at", reported_at),
        ("--occurred-from", occurred_from),
        ("--occurred-to", occurred_to),
    ):
        require_aware(option, value)


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
    """The typed value of ``--value`` for ``field``; ConfigError says what was expected."""
    if field in TIME_FIELDS:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(
                "--value", [ConfigProblem("--value", f"{value!r} is not an ISO 8601 time")]
            ) from None
        require_aware("--value", parsed)
        return parsed
    if field in integer_fields:
        try:
            number = int(value)
        except ValueError:
            number = -1
        if number < 0:
            raise ConfigError(
                "--value", [ConfigProblem("--value", f"{field} must be a whole number >= 0, not {value!r}")]
            )
        return number
    if not value.strip():
        raise ConfigError("--value", [ConfigProblem("--value", f"{field} cannot be empty")])
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
    integer_fields: Sequence[str] = (),
    no_deadline_fields: Sequence[str] = (),
) -> LogChange:
    """Change one field of an entry; the deadline runs from when the new information was received.

    Past 60 days from the report the change is still recorded, with no deadline (clery.md §1.5);
    ``no_deadline_fields`` are not public, so a change to them never has one.
    """
    if field not in store.editable_fields:
        raise ConfigError(
            "--field",
            [ConfigProblem("--field", f"{field!r} is not one of {', '.join(store.editable_fields)}")],
        )
    parsed = parse_field_value(field, value, integer_fields=integer_fields)
    at = now or datetime.now(UTC)
    received = received_at or at
    require_aware("--received-at", received)
    entry = await store.get(entry_id)
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


def _mentions(text: str, name: str) -> bool:
    parts = name.split()
    candidates = [r"\s+".join(re.escape(p) for p in parts)]
    candidates += [re.escape(p) for p in parts if len(p) >= SHORTEST_NAME_PART]
    return any(re.search(rf"(?<!\w){c}(?!\w)", text, re.IGNORECASE) for c in candidates if c)


class NamesAPerson(VmsBridgeError):
    """A public log entry's text contains the name of a person recorded on its incident."""


async def check_no_names(
    store: PublicLogStore[Any, Any, EntryT],
    entries: Sequence[EntryT],
    public_text: Mapping[int, Mapping[str, str | None]],
    *,
    noun: str,
) -> None:
    """Refuse (NamesAPerson) if any shown field of any entry contains a name from its incident.

    ``public_text`` maps an entry id to the fields as the public would see them (withheld
    fields already replaced), so a withheld field never blocks. The message names the entry and
    the field, never the person.
    """
    incident_ids = {e.incident_id for e in entries if e.incident_id is not None}
    names = await store.names_on_incidents(incident_ids)
    problems = []
    for entry in entries:
        for field, text in public_text.get(entry.id, {}).items():
            people = names.get(entry.incident_id, []) if entry.incident_id is not None else []
            if text and any(_mentions(text, n) for n in people):
                problems.append(f"{noun} {entry.id}: {field} contains the name of a person on its incident")
    if problems:
        raise NamesAPerson(
            "refused, a public log never names a person; reword or withhold the field:\n  "
            + "\n  ".join(problems)
        )
