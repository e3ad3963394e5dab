"""The daily crime log (34 CFR 668.46(f)): drafts from incidents, changes with deadlines, publishing.

Every entry and every later change carries the time the information was received and its due-by
time (end of the 2nd business day after, on the institution's calendar), and is published only by
an actor; the change history therefore proves, entry by entry, that the 2-business-day rule was met.
"""

from __future__ import annotations

__all__ = [
    "WITHHOLDING_REASONS",
    "PendingItem",
    "draft_from_incident",
    "pending",
    "public_view",
    "publish",
    "release",
    "update",
    "withhold",
]

from dataclasses import dataclass
from datetime import UTC, datetime

from vmsbridge.app import Stores
from vmsbridge.clery.calendar import calendar_for
from vmsbridge.config import SiteConfig
from vmsbridge.errors import ConfigError, ConfigProblem, NotFound
from vmsbridge.store.crimelog import EDITABLE_FIELDS, CrimeLogChange, CrimeLogEntry, Withholding

TIME_FIELDS = ("occurred_from", "occurred_to")
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


@dataclass(frozen=True)
class PendingItem:
    entry: CrimeLogEntry
    change: CrimeLogChange
    overdue: bool


def _aware(name: str, value: datetime | None) -> None:
    if value is not None and value.tzinfo is None:
        raise ConfigError(name, [ConfigProblem(name, "needs a time zone (add Z or +hh:mm)")])


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
) -> tuple[CrimeLogEntry, CrimeLogChange]:
    """A draft entry for an incident; its general location is the location's public label."""
    for name, value in (
        ("--reported-at", reported_at),
        ("--occurred-from", occurred_from),
        ("--occurred-to", occurred_to),
    ):
        _aware(name, value)
    if occurred_from and occurred_to and occurred_to < occurred_from:
        raise ConfigError("--occurred-to", [ConfigProblem("--occurred-to", "is before --occurred-from")])
    if not nature.strip():
        raise ConfigError(
            "--nature", [ConfigProblem("--nature", "plain-language nature of the crime is required")]
        )
    incident = await stores.incidents.get(incident_id)
    location = next((loc for loc in site.locations if loc.id == incident.location_id), None)
    if location is None:
        raise NotFound(f"incident {incident_id} is at {incident.location_id!r}, not a location of this site")
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
        now=now or datetime.now(UTC),
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
) -> CrimeLogChange:
    """Change one field; the deadline runs from when the new information was received."""
    if field not in EDITABLE_FIELDS:
        raise ConfigError(
            "--field", [ConfigProblem("--field", f"{field!r} is not one of {', '.join(EDITABLE_FIELDS)}")]
        )
    parsed: object = value
    if field in TIME_FIELDS:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(
                "--value", [ConfigProblem("--value", f"{value!r} is not an ISO 8601 time")]
            ) from None
        _aware("--value", parsed)
    at = now or datetime.now(UTC)
    received = received_at or at
    _aware("--received-at", received)
    await stores.crime_log.get(entry_id)
    return await stores.crime_log.update(
        entry_id,
        field,
        parsed,
        info_received_at=received,
        due_by=calendar_for(site).due_by(received),
        actor=actor,
        now=at,
    )


async def publish(stores: Stores, *, entry_id: int, actor: str, now: datetime | None = None) -> CrimeLogEntry:
    return await stores.crime_log.publish(entry_id, actor=actor, now=now or datetime.now(UTC))


async def pending(stores: Stores, *, as_of: datetime) -> list[PendingItem]:
    """Drafts and updates not yet published, with whether their deadline has passed at ``as_of``."""
    return [PendingItem(e, c, as_of > c.due_by) for e, c in await stores.crime_log.pending()]


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
    if field not in EDITABLE_FIELDS:
        problems.append(ConfigProblem("--field", f"{field!r} is not one of {', '.join(EDITABLE_FIELDS)}"))
    if reason not in WITHHOLDING_REASONS:
        problems.append(
            ConfigProblem("--reason", f"{reason!r} is not one of {', '.join(WITHHOLDING_REASONS)}")
        )
    if not note.strip():
        problems.append(ConfigProblem("--note", "a note on the evidence for withholding is required"))
    _aware("--review-by", review_by)
    if review_by <= at:
        problems.append(ConfigProblem("--review-by", "must be in the future"))
    if problems:
        raise ConfigError("withholding", problems)
    return await stores.crime_log.withhold(
        entry_id, field=field, reason=reason, note=note.strip(), actor=actor, review_by=review_by, now=at
    )


async def release(
    stores: Stores, *, entry_id: int, field: str, actor: str, now: datetime | None = None
) -> Withholding:
    return await stores.crime_log.release(entry_id, field=field, actor=actor, now=now or datetime.now(UTC))


async def public_view(stores: Stores, entry_id: int) -> dict[str, str | None]:
    """The entry as the public sees it: never a person's name; withheld fields say so."""
    entry = await stores.crime_log.get(entry_id)
    withheld = {w.field for w in await stores.crime_log.withholdings(entry_id) if w.released_at is None}

    def shown(field: str, value: object) -> str | None:
        if field in withheld:
            return WITHHELD
        if value is None:
            return None
        return value.isoformat() if isinstance(value, datetime) else str(value)

    return {
        "nature": shown("nature", entry.nature),
        "reported_at": entry.reported_at.isoformat(),
        "occurred_from": shown("occurred_from", entry.occurred_from),
        "occurred_to": shown("occurred_to", entry.occurred_to),
        "general_location": shown("general_location", entry.general_location),
        "disposition": shown("disposition", entry.disposition),
    }
