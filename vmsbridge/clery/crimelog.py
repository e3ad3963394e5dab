"""The daily crime log (34 CFR 668.46(f)): drafts from incidents, changes with deadlines, publishing.

Every entry and every later change carries the time the information was received and its due-by
time (end of the 2nd business day after, on the institution's calendar), and is published only by
an actor; the change history therefore proves, entry by entry, that the 2-business-day rule was met.
"""

from __future__ import annotations

__all__ = [
    "COLUMNS",
    "WITHHOLDING_REASONS",
    "PendingItem",
    "draft_from_incident",
    "export",
    "history",
    "pending",
    "public_view",
    "publish",
    "release",
    "reviews_overdue",
    "update",
    "withhold",
    "withholdings",
]

from datetime import UTC, datetime
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
    require_aware,
    screen_names,
    update_field,
)
from vmsbridge.config import SiteConfig
from vmsbridge.errors import NotFound, ValidationFailed, ValidationProblem
from vmsbridge.model.crimelog import CRIME_LOG_EDITABLE_FIELDS, CrimeLogEntry, Withholding
from vmsbridge.model.publiclog import LogChange

NOUN = "crime-log entry"
# The columns of the public log (key, heading); see clery.md §1.6 for what real logs publish.
COLUMNS = (
    ("entry", "Entry number"),
    ("reported", "Date/time reported"),
    ("nature", "Nature"),
    ("occurred", "Date/time occurred"),
    ("general_location", "General location"),
    ("disposition", "Disposition"),
)
# Fields whose text the public reads, and so must never contain a person's name.
PUBLIC_TEXT_FIELDS = ("nature", "general_location", "disposition")
# 34 CFR 668.46(f)(3)-(4): the only grounds for keeping crime-log information from the public.
WITHHOLDING_REASONS = (
    "ongoing_investigation",
    "individual_safety",
    "suspect_flight",
    "evidence_destruction",
    "prohibited_by_law",
    "victim_confidentiality",
)
WITHHELD = "Withheld"
# The date/time occurred is one public column: withholding either end withholds both.
OCCURRED_FIELDS = ("occurred_from", "occurred_to")


async def draft_from_incident(
    stores: Stores,
    site: SiteConfig,
    *,
    incident_id: int,
    nature: str,
    reported_at: datetime,
    actor: str,
    occurred_from: datetime | None = None,
    occurred_to: datetime | None = None,
    disposition: str = "Open",
    now: datetime | None = None,
) -> tuple[CrimeLogEntry, LogChange]:
    """A draft entry for an incident; its general location is the location's public label.

    Refused if its text names a person on the incident: a draft is what gets published.
    """
    at = now or datetime.now(UTC)
    check_entry_times(reported_at, occurred_from, occurred_to, now=at)
    if not nature.strip():
        raise ValidationFailed(
            [ValidationProblem("nature", "plain-language nature of the crime is required")]
        )
    incident = await stores.incidents.get(incident_id)
    location = next((loc for loc in site.locations if loc.id == incident.location_id), None)
    if location is None:
        raise NotFound(f"incident {incident_id} is at {incident.location_id!r}, not a location of this site")
    text = {"nature": nature.strip(), "general_location": location.public_label, "disposition": disposition}
    await check_no_names(stores.crime_log, incident_id, text, what=f"the new {NOUN}")
    entry = await stores.crime_log.create(
        incident_id=incident_id,
        nature=nature.strip(),
        reported_at=reported_at,
        occurred_from=occurred_from,
        occurred_to=occurred_to,
        location_id=location.id,
        general_location=location.public_label,
        disposition=disposition,
        due_by=calendar_for(site).due_by(reported_at),
        actor=actor,
        now=at,
    )
    [first] = await stores.crime_log.changes(entry.id)
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
    """Change one field; the deadline runs from when the new information was received.

    Past 60 days from the report the change is still recorded, with no deadline (clery.md §1.5).
    Refused if the entry's public text would then name a person on its incident.
    """
    return await update_field(
        stores.crime_log,
        site,
        entry_id=entry_id,
        field=field,
        value=value,
        actor=actor,
        received_at=received_at,
        now=now,
        check_public=lambda changed: _check_public(stores, changed),
    )


async def _check_public(stores: Stores, entry: CrimeLogEntry, *, releasing: str | None = None) -> None:
    """Refuse (NamesAPerson) if the entry's public text names a person on its incident.

    Withheld fields are not public, except ``releasing``, the one about to be made public.
    """
    withheld = (await stores.crime_log.withheld_fields([entry.id])).get(entry.id, set()) - {releasing}
    await check_no_names(
        stores.crime_log, entry.incident_id, _public_text(entry, withheld), what=f"{NOUN} {entry.id}"
    )


async def publish(stores: Stores, *, entry_id: int, actor: str, now: datetime | None = None) -> CrimeLogEntry:
    """Publish the entry and its pending changes, unless its public text names a person."""
    await _check_public(stores, await stores.crime_log.get(entry_id))
    return await stores.crime_log.publish(entry_id, actor=actor, now=now or datetime.now(UTC))


async def pending(stores: Stores, *, as_of: datetime) -> list[PendingItem[CrimeLogEntry]]:
    """Drafts and updates not yet published, overdue where a deadline was set and has passed."""
    return await pending_items(stores.crime_log, as_of=as_of)


async def history(stores: Stores, entry_id: int) -> list[LogChange]:
    """The entry and every change, with info-received, due-by (None: not required) and published."""
    return await entry_changes(stores.crime_log, entry_id)


async def withholdings(stores: Stores, entry_id: int) -> list[Withholding]:
    """Every withholding of the entry (NotFound if there is no such entry), oldest first, each
    with its reason, note, actor, review date and, once released, when and by whom."""
    await stores.crime_log.get(entry_id)
    return await stores.crime_log.withholdings(entry_id)


async def reviews_overdue(stores: Stores, *, as_of: datetime) -> list[tuple[CrimeLogEntry, Withholding]]:
    """Withholdings still in force whose review date has passed by ``as_of``: the law allows
    withholding only while the harm lasts, so each needs a review (release or withhold anew)."""
    return await stores.crime_log.reviews_due(as_of)


async def withhold(
    stores: Stores,
    *,
    entry_id: int,
    field: str,
    reason: str,
    note: str,
    actor: str,
    review_by: datetime,
    now: datetime | None = None,
) -> Withholding:
    """Keep one field from the public for a legal reason, with a note and a date to review it."""
    at = now or datetime.now(UTC)
    problems = []
    if field not in CRIME_LOG_EDITABLE_FIELDS:
        problems.append(
            ValidationProblem("field", f"{field!r} is not one of {', '.join(CRIME_LOG_EDITABLE_FIELDS)}")
        )
    if reason not in WITHHOLDING_REASONS:
        problems.append(
            ValidationProblem("reason", f"{reason!r} is not one of {', '.join(WITHHOLDING_REASONS)}")
        )
    if not note.strip():
        problems.append(ValidationProblem("note", "a note on the evidence for withholding is required"))
    require_aware("review_by", review_by)
    if review_by <= at:
        problems.append(ValidationProblem("review_by", "must be in the future"))
    if problems:
        raise ValidationFailed(problems, subject="withholding")
    return await stores.crime_log.withhold(
        entry_id, field=field, reason=reason, note=note.strip(), actor=actor, review_by=review_by, now=at
    )


async def release(
    stores: Stores, *, entry_id: int, field: str, actor: str, now: datetime | None = None
) -> Withholding:
    """Make a withheld field public again; refused, with nothing changed, if it names a person."""
    await _check_public(stores, await stores.crime_log.get(entry_id), releasing=field)
    return await stores.crime_log.release(entry_id, field=field, actor=actor, now=now or datetime.now(UTC))


def _shown(entry: CrimeLogEntry, withheld: set[str]) -> dict[str, object]:
    values: dict[str, object] = {
        "nature": entry.nature,
        "occurred_from": entry.occurred_from,
        "occurred_to": entry.occurred_to,
        "general_location": entry.general_location,
        "disposition": entry.disposition,
    }
    if withheld & set(OCCURRED_FIELDS):
        # One end of the range alone would still tell when it happened (or narrow it down).
        withheld = withheld | set(OCCURRED_FIELDS)
    return {k: (WITHHELD if k in withheld else v) for k, v in values.items()}


def _public_text(entry: CrimeLogEntry, withheld: set[str]) -> dict[str, str | None]:
    shown = _shown(entry, withheld)
    return {k: str(shown[k]) for k in PUBLIC_TEXT_FIELDS}


async def _screened(
    stores: Stores, entries: list[CrimeLogEntry], now: datetime
) -> dict[int, dict[str, object]]:
    """Each entry's shown fields: withheld ones say so, ones that would name a person say
    PENDING_REVIEW (logged and audited by screen_names)."""
    withheld = await stores.crime_log.withheld_fields([e.id for e in entries])
    hidden = await screen_names(
        stores.crime_log,
        entries,
        {e.id: _public_text(e, withheld.get(e.id, set())) for e in entries},
        noun=NOUN,
        now=now,
    )
    shown = {}
    for entry in entries:
        values = _shown(entry, withheld.get(entry.id, set()))
        shown[entry.id] = {
            k: PENDING_REVIEW if k in hidden.get(entry.id, set()) else v for k, v in values.items()
        }
    return shown


async def public_view(
    stores: Stores, entry_id: int, *, now: datetime | None = None, zone: ZoneInfo | None = None
) -> dict[str, str | None]:
    """The entry as the public sees it, checked as the export checks it: withheld fields say so,
    and a field that would name a person says PENDING_REVIEW. Times are in ``zone`` (the site's,
    as the export shows them) when given."""
    entry = await stores.crime_log.get(entry_id)
    shown = (await _screened(stores, [entry], now or datetime.now(UTC)))[entry.id]

    def text(value: object) -> str | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            return (value.astimezone(zone) if zone else value).isoformat()
        return str(value)

    return {
        "nature": text(shown["nature"]),
        "reported_at": text(entry.reported_at),
        "occurred_from": text(shown["occurred_from"]),
        "occurred_to": text(shown["occurred_to"]),
        "general_location": text(shown["general_location"]),
        "disposition": text(shown["disposition"]),
    }


async def export(
    stores: Stores, site: SiteConfig, window: ExportWindow, *, now: datetime | None = None
) -> PublicLog:
    """The published entries reported in the window, newest first, as the public saw them.

    Changes not yet published are not shown; withheld fields say "Withheld"; a field that would
    name a person on its incident says PENDING_REVIEW (see ``screen_names``), and the rest of
    the log is exported as usual.
    """
    at = now or datetime.now(UTC)
    zone = ZoneInfo(site.site.timezone)
    start, end = window.bounds(zone)
    entries = await stores.crime_log.published_between(start, end)
    screened = await _screened(stores, entries, at)
    rows = []
    for entry in entries:
        shown = screened[entry.id]
        rows.append(
            {
                "entry": str(entry.id),
                "reported": when_text(entry.reported_at, zone),
                "nature": str(shown["nature"]),
                "occurred": occurred_text(_when(shown["occurred_from"]), _when(shown["occurred_to"]), zone),
                "general_location": str(shown["general_location"]),
                "disposition": str(shown["disposition"]),
            }
        )
    generated = at.astimezone(zone).replace(microsecond=0)
    return PublicLog("Daily crime log", site.site.name, window, generated, COLUMNS, rows)


def _when(value: object) -> datetime | str | None:
    return value if value is None or isinstance(value, datetime | str) else str(value)
