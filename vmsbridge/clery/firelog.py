"""The fire log (34 CFR 668.49(d)): fires in student-housing facilities, public like the crime log.

Only actual fires are logged (not false alarms or drills), only in locations the site file marks
``student_housing = true``. The public log shows nature, date/time occurred, date/time reported
and general location; the cause, injuries, deaths and damage feed the annual fire statistics and
are never public. Deadlines, the 60-day rule, publishing and the export are the crime log's.
"""

from __future__ import annotations

__all__ = [
    "COLUMNS",
    "FacilityFireStatistics",
    "draft",
    "export",
    "history",
    "housing_location",
    "pending",
    "publish",
    "statistics",
    "unpublished_statistics",
    "update",
]

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from vmsbridge.app import Stores
from vmsbridge.clery.calendar import calendar_for
from vmsbridge.clery.export import ExportWindow, PublicLog, occurred_text, when_text
from vmsbridge.clery.publiclog import (
    PENDING_REVIEW,
    PendingItem,
    check_entry_times,
    check_no_names,
    entry_changes,
    pending_items,
    screen_names,
    update_field,
)
from vmsbridge.config import Location, SiteConfig
from vmsbridge.errors import ValidationFailed, ValidationProblem
from vmsbridge.model.firelog import INTEGER_FIELDS, STATISTICS_FIELDS, FireLogEntry
from vmsbridge.model.publiclog import LogChange

NOUN = "fire-log entry"
COLUMNS = (
    ("entry", "Entry number"),
    ("reported", "Date/time reported"),
    ("nature", "Nature of fire"),
    ("occurred", "Date/time occurred"),
    ("general_location", "General location"),
)
PUBLIC_TEXT_FIELDS = ("nature", "general_location")
UNRECORDED_CAUSE = "not recorded"


def housing_location(site: SiteConfig, location_id: str) -> Location:
    """The student-housing location ``location_id``; ValidationFailed says why any other is refused."""
    housing = [loc.id for loc in site.locations if loc.student_housing]
    location = next((loc for loc in site.locations if loc.id == location_id), None)
    if location is None:
        why = (
            f"{location_id!r} is not a location of this site; student housing: {', '.join(housing) or 'none'}"
        )
    elif not location.student_housing:
        why = (
            f"{location_id!r} ({location.name}) is not student housing: the fire log covers fires in "
            f"on-campus student-housing facilities only (student_housing = true in the site file); "
            f"student housing: {', '.join(housing) or 'none'}"
        )
    else:
        return location
    raise ValidationFailed([ValidationProblem("location_id", why)])


async def draft(
    stores: Stores,
    site: SiteConfig,
    *,
    location_id: str,
    nature: str,
    reported_at: datetime,
    actor: str,
    occurred_from: datetime | None = None,
    occurred_to: datetime | None = None,
    incident_id: int | None = None,
    cause: str | None = None,
    injuries: int = 0,
    deaths: int = 0,
    damage_usd: int = 0,
    now: datetime | None = None,
) -> tuple[FireLogEntry, LogChange]:
    """A draft entry for a fire at a student-housing location, due 2 business days after the report.

    Refused if its public text names a person on the incident: a draft is what gets published.
    """
    at = now or datetime.now(UTC)
    location = housing_location(site, location_id)
    check_entry_times(reported_at, occurred_from, occurred_to, now=at)
    problems = []
    if not nature.strip():
        problems.append(ValidationProblem("nature", "plain-language nature of the fire is required"))
    for name, count in (("injuries", injuries), ("deaths", deaths), ("damage_usd", damage_usd)):
        if count < 0:
            problems.append(ValidationProblem(name, f"must be a whole number >= 0, not {count}"))
    if problems:
        raise ValidationFailed(problems, subject="fire log")
    if incident_id is not None:
        await stores.incidents.get(incident_id)  # NotFound names it
    text = {"nature": nature.strip(), "general_location": location.public_label}
    await check_no_names(stores.fire_log, incident_id, text, what=f"the new {NOUN}")
    entry = await stores.fire_log.create(
        incident_id=incident_id,
        nature=nature.strip(),
        reported_at=reported_at,
        occurred_from=occurred_from,
        occurred_to=occurred_to,
        location_id=location.id,
        general_location=location.public_label,
        cause=cause.strip() if cause and cause.strip() else None,
        injuries=injuries,
        deaths=deaths,
        damage_usd=damage_usd,
        due_by=calendar_for(site).due_by(reported_at),
        actor=actor,
        now=at,
    )
    [first] = await stores.fire_log.changes(entry.id)
    return entry, first


async def update(
    stores: Stores,
    site: SiteConfig,
    *,
    entry_id: int,
    field: str,
    value: str,
    actor: str,
    received_at: datetime | None = None,
    now: datetime | None = None,
) -> LogChange:
    """Change one field. Public fields are due 2 business days after the information came in (none
    past 60 days); the statistics fields are not public, so they have no deadline. Refused if
    the public text would then name a person on the incident."""
    return await update_field(
        stores.fire_log,
        site,
        entry_id=entry_id,
        field=field,
        value=value,
        actor=actor,
        received_at=received_at,
        now=now,
        check_public=lambda changed: _check_public(stores, changed),
        integer_fields=INTEGER_FIELDS,
        no_deadline_fields=STATISTICS_FIELDS,
    )


def _public_text(entry: FireLogEntry) -> dict[str, str | None]:
    return {"nature": entry.nature, "general_location": entry.general_location}


async def _check_public(stores: Stores, entry: FireLogEntry) -> None:
    """Refuse (NamesAPerson) if the entry's public text names a person on its incident."""
    await check_no_names(stores.fire_log, entry.incident_id, _public_text(entry), what=f"{NOUN} {entry.id}")


async def publish(stores: Stores, *, entry_id: int, actor: str, now: datetime | None = None) -> FireLogEntry:
    """Publish the entry and its pending changes, unless its public text names a person."""
    await _check_public(stores, await stores.fire_log.get(entry_id))
    return await stores.fire_log.publish(entry_id, actor=actor, now=now or datetime.now(UTC))


async def pending(stores: Stores, *, as_of: datetime) -> list[PendingItem[FireLogEntry]]:
    """Drafts and changes of public fields not yet published, overdue where a deadline passed.

    Changes to the statistics fields are left out: they are never public, so the law sets them
    no deadline and nothing is due (see ``unpublished_statistics``).
    """
    items = await pending_items(stores.fire_log, as_of=as_of)
    return [i for i in items if i.change.field not in STATISTICS_FIELDS]


async def unpublished_statistics(stores: Stores, *, as_of: datetime) -> list[PendingItem[FireLogEntry]]:
    """Changes to the statistics fields not yet published: informational only, never due."""
    items = await pending_items(stores.fire_log, as_of=as_of)
    return [i for i in items if i.change.field in STATISTICS_FIELDS]


async def history(stores: Stores, entry_id: int) -> list[LogChange]:
    return await entry_changes(stores.fire_log, entry_id)


async def export(
    stores: Stores, site: SiteConfig, window: ExportWindow, *, now: datetime | None = None
) -> PublicLog:
    """Published fires reported in the window, newest first, without the statistics fields.

    A field that would name a person on its incident says PENDING_REVIEW (see ``screen_names``).
    """
    at = now or datetime.now(UTC)
    zone = ZoneInfo(site.site.timezone)
    start, end = window.bounds(zone)
    entries = await stores.fire_log.published_between(start, end)
    hidden = await screen_names(
        stores.fire_log, entries, {e.id: _public_text(e) for e in entries}, noun=NOUN, now=at
    )
    rows = []
    for e in entries:
        text = {k: PENDING_REVIEW if k in hidden.get(e.id, set()) else v for k, v in _public_text(e).items()}
        rows.append(
            {
                "entry": str(e.id),
                "reported": when_text(e.reported_at, zone),
                "nature": str(text["nature"]),
                "occurred": occurred_text(e.occurred_from, e.occurred_to, zone),
                "general_location": str(text["general_location"]),
            }
        )
    generated = at.astimezone(zone).replace(microsecond=0)
    return PublicLog("Fire log", site.site.name, window, generated, COLUMNS, rows)


@dataclass
class FacilityFireStatistics:
    """One student-housing facility's fires in a calendar year (by date reported)."""

    location_id: str
    facility: str
    fires: int = 0
    causes: Counter[str] = field(default_factory=Counter)
    injuries: int = 0
    deaths: int = 0
    damage_usd: int = 0


async def statistics(stores: Stores, site: SiteConfig, *, year: int) -> list[FacilityFireStatistics]:
    """Per student-housing facility (every one, fires or not): fires, causes, injuries, deaths and
    damage of the fires reported in ``year`` (institution time), drafts included: a fire counts
    whether or not its log entry is published yet."""
    zone = ZoneInfo(site.site.timezone)
    window = ExportWindow(date(year, 1, 1), date(year, 12, 31), "request")
    start, end = window.bounds(zone)
    facilities = {
        loc.id: FacilityFireStatistics(loc.id, loc.name) for loc in site.locations if loc.student_housing
    }
    for entry in await stores.fire_log.reported_between(start, end):
        stats = facilities.get(entry.location_id)
        if stats is None:  # a location no longer housing in the site file: still counted, by its id
            stats = facilities[entry.location_id] = FacilityFireStatistics(
                entry.location_id, entry.location_id
            )
        stats.fires += 1
        stats.causes[entry.cause or UNRECORDED_CAUSE] += 1
        stats.injuries += entry.injuries
        stats.deaths += entry.deaths
        stats.damage_usd += entry.damage_usd
    return list(facilities.values())
