"""Timely warnings (34 CFR 668.46(e)), emergency notifications (668.46(g)), tests and all-clears.

A notification is drafted from an incident (or by hand), possibly edited, and then approved or
declined by a named actor; only approval issues it, as a CAP 1.2 message queued for every
configured sink. The decision, its basis, the approver, the times and any reason for not issuing
are kept. Victims are never named: the text of a draft is checked against the names of the
people recorded as victims on its incident, when drafted and again when approved (the text may
have been edited, or a victim recorded, in between).
"""

from __future__ import annotations

__all__ = [
    "KINDS",
    "VictimNamed",
    "approve",
    "build_alert",
    "campus_circle",
    "decline",
    "distance_km",
    "draft",
    "edit",
    "emergency_tests_of_year",
    "preview",
    "record_test",
    "victim_name_fields",
]

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from vmsbridge.app import Stores
from vmsbridge.clery.cap import CapAlert, CapArea, cap_time, reference, render
from vmsbridge.clery.delivery import sink_plan
from vmsbridge.clery.names import names_in
from vmsbridge.config import Location, SiteConfig
from vmsbridge.config.notifications import parse_cap_polygon
from vmsbridge.errors import (
    ConfigError,
    ConfigProblem,
    NotFound,
    ValidationFailed,
    ValidationProblem,
    VmsBridgeError,
)
from vmsbridge.model.notifications import (
    CapMessage,
    EmergencyTest,
    NewCapMessage,
    NewNotification,
    Notification,
)
from vmsbridge.store.notifications import NotificationConflict

KINDS = ("timely_warning", "emergency", "test", "all_clear")
TEXT_FIELDS = ("headline", "description", "instruction")


class VictimNamed(VmsBridgeError, ValueError):
    """The text names a person recorded as a victim; it is refused, and the refusal is audited."""


@dataclass(frozen=True)
class KindProfile:
    """CAP info defaults of a kind, and the basis recorded when the approver gives none."""

    event: str
    category: str
    response_type: str
    urgency: str
    severity: str
    certainty: str
    cap_status: str
    basis: str


PROFILES: dict[str, KindProfile] = {
    "timely_warning": KindProfile(
        "Timely warning",
        "Security",
        "Monitor",
        "Expected",
        "Moderate",
        "Likely",
        "Actual",
        "Clery crime reported on Clery geography that poses a serious or continuing threat "
        "(34 CFR 668.46(e))",
    ),
    "emergency": KindProfile(
        "Emergency notification",
        "Safety",
        "Avoid",
        "Immediate",
        "Severe",
        "Observed",
        "Actual",
        "Confirmed significant emergency or dangerous situation posing an immediate threat to health "
        "or safety on campus (34 CFR 668.46(g))",
    ),
    "test": KindProfile(
        "Emergency notification test",
        "Safety",
        "None",
        "Unknown",
        "Minor",
        "Unknown",
        "Test",
        "Test of the emergency response and notification procedures (34 CFR 668.46(g))",
    ),
    "all_clear": KindProfile(
        "All clear",
        "Safety",
        "AllClear",
        "Past",
        "Minor",
        "Observed",
        "Actual",
        "The threat that prompted the earlier notification has ended",
    ),
}


# -- the victim-name check -----------------------------------------------------------------------


def victim_name_fields(texts: Mapping[str, str], names: Sequence[str]) -> list[str]:
    """The fields of ``texts`` that contain a victim's name or a part of it (``clery.names``)."""
    return [field for field, text in texts.items() if names_in(text, names)]


async def _check_victims(
    stores: Stores,
    *,
    incident_id: int | None,
    kind: str,
    texts: Mapping[str, str],
    actor: str,
    now: datetime,
) -> int:
    """Refuse text naming a victim of the incident; returns how many victim names were checked."""
    if incident_id is None:
        return 0
    names = await stores.people.names(incident_id, "victim")
    fields = victim_name_fields(texts, names)
    if fields:
        await stores.notifications.record_refusal(
            incident_id=incident_id, kind=kind, fields=fields, actor=actor, now=now
        )
        raise VictimNamed(
            f"refused: the {', '.join(fields)} of this {kind} names a person recorded as a victim on "
            f"incident {incident_id}; victims are never named in notifications (remove the name)"
        )
    return len(names)


# -- texts ---------------------------------------------------------------------------------------


def _when(at: datetime, site: SiteConfig) -> str:
    local = at.astimezone(ZoneInfo(site.site.timezone))
    hour = local.strftime("%I:%M %p").lstrip("0")
    return f"{local.strftime('%A, %B')} {local.day}, {local.year} at {hour} {local.tzname()}"


def _texts(kind: str, *, nature: str, place: str, at: datetime, site: SiteConfig) -> dict[str, str]:
    """Headline, description and instruction for a kind: date, nature, general location, what to do."""
    cfg = site.notifications
    when = _when(at, site)
    tips = " ".join(cfg.safety_tips)
    if kind == "timely_warning":
        return {
            "headline": f"Timely warning: {nature} at {place}",
            "description": f"Campus police received a report of {nature} at {place} on {when}. This "
            "warning is issued because the situation may pose a serious or continuing threat to the "
            "campus community.",
            "instruction": f"{tips} {cfg.how_to_report}".strip(),
        }
    if kind == "emergency":
        return {
            "headline": f"EMERGENCY: {nature} at {place}",
            "description": f"Confirmed {when}: {nature} at {place}. This is an immediate threat to "
            "health or safety.",
            "instruction": "Avoid the area and follow directions from police and emergency staff. An "
            f"all-clear message will follow when the threat has ended. {cfg.how_to_report}",
        }
    if kind == "all_clear":
        return {
            "headline": f"All clear: {nature} at {place}",
            "description": f"As of {when}, the situation at {place} ({nature}) has ended.",
            "instruction": f"Resume normal activities. {cfg.how_to_report}",
        }
    return {
        "headline": f"TEST: {nature}",
        "description": f"This is a test of the {site.site.name} emergency notification system ({when}). "
        "No emergency is taking place.",
        "instruction": "No action is required.",
    }


# -- drafting --------------------------------------------------------------------------------


def _location(site: SiteConfig, location_id: str) -> Location:
    for loc in site.locations:
        if loc.id == location_id:
            return loc
    raise NotFound(f"location {location_id!r} is not a location of this site")


def _problem(field: str, reason: str, related: tuple[str, ...] = ()) -> ValidationFailed:
    return ValidationFailed([ValidationProblem(field, reason, related)])


async def draft(
    stores: Stores,
    site: SiteConfig,
    *,
    kind: str,
    actor: str,
    incident_id: int | None = None,
    location_id: str | None = None,
    nature: str | None = None,
    follows: int | None = None,
    cancels: int | None = None,
    texts: Mapping[str, str] | None = None,
    cap_status: str | None = None,
    now: datetime | None = None,
) -> Notification:
    """A draft built from the incident (nature = its summary, place = the location's public label).

    An all-clear follows the incident's latest issued notification unless ``follows`` names one;
    ``follows`` makes any kind an Update and ``cancels`` a Cancel of an issued notification.
    """
    at = now or datetime.now(UTC)
    if kind not in KINDS:
        raise _problem("kind", f"{kind!r} is not one of {', '.join(KINDS)}")
    if follows is not None and cancels is not None:
        raise _problem("cancels", "a message either follows (updates) or cancels another, not both")
    profile = PROFILES[kind]
    earlier_id = follows if follows is not None else cancels
    if earlier_id is not None and incident_id is None:
        # A follow-up or withdrawal is about what the earlier message was about.
        previous = await stores.notifications.get(earlier_id)
        incident_id, location_id = previous.incident_id, location_id or previous.location_id
    started = at
    if incident_id is not None:
        incident = await stores.incidents.get(incident_id)
        location_id = location_id or incident.location_id
        nature = nature or incident.summary
        started = incident.started_at
    elif kind in ("timely_warning", "emergency", "all_clear") and not (nature and location_id):
        raise _problem(
            "incident_id",
            f"a {kind} drafted by hand needs location_id and nature",
            related=("location_id", "nature"),
        )
    place = _location(site, location_id).public_label if location_id else site.site.name
    nature = (nature or profile.event).strip()

    if kind == "all_clear" and follows is None and cancels is None:
        if incident_id is None:
            raise _problem("follows", "an all-clear drafted by hand must name the notification it clears")
        earlier = await stores.notifications.latest_to_clear(incident_id)
        if earlier is None:
            raise _problem(
                "kind",
                f"incident {incident_id} has no issued timely warning or emergency notification that "
                "is still in force (not a test, not cancelled, not already cleared) for an all-clear "
                "to end; name one with follows if you mean it",
                related=("follows",),
            )
        follows = earlier.id
    msg_type = "Alert"
    for field, earlier_id, msg in (("follows", follows, "Update"), ("cancels", cancels, "Cancel")):
        if earlier_id is not None:
            if await stores.notifications.cap_message(earlier_id) is None:
                raise _problem(
                    field, f"notification {earlier_id} has not been issued, so nothing refers to it"
                )
            msg_type = msg

    body = _texts(kind, nature=nature, place=place, at=at if kind == "all_clear" else started, site=site)
    if msg_type == "Cancel":
        assert cancels is not None
        cancelled = await stores.notifications.get(cancels)
        body = {
            "headline": f"Cancelled: {cancelled.headline}",
            "description": f'The notification "{cancelled.headline}" is withdrawn.',
            "instruction": "Disregard the earlier message.",
        }
    body.update({k: v.strip() for k, v in (texts or {}).items() if v is not None and v.strip()})
    checked = await _check_victims(
        stores, incident_id=incident_id, kind=kind, texts=body, actor=actor, now=at
    )
    new = NewNotification(
        identifier=f"vmsbridge-{uuid.uuid4()}",
        incident_id=incident_id,
        kind=kind,
        msg_type=msg_type,
        cap_status=cap_status or profile.cap_status,
        follows_id=follows if follows is not None else cancels,
        location_id=location_id,
        area_desc=place,
        category=profile.category,
        event=profile.event,
        response_type=profile.response_type,
        urgency=profile.urgency,
        severity=profile.severity,
        certainty=profile.certainty,
        headline=body["headline"],
        description=body["description"],
        instruction=body["instruction"],
        victim_names_checked=checked,
    )
    return await stores.notifications.create(new, actor=actor, now=at)


async def edit(
    stores: Stores,
    *,
    notification_id: int,
    changes: Mapping[str, str],
    actor: str,
    now: datetime | None = None,
) -> Notification:
    at = now or datetime.now(UTC)
    texts = {k: v.strip() for k, v in changes.items() if v is not None}
    if not texts:
        raise _problem(
            "headline", "give at least one of headline, description, instruction", related=TEXT_FIELDS
        )
    empty = [k for k, v in texts.items() if not v]
    if empty:
        raise _problem(empty[0], "must not be empty")
    current = await stores.notifications.get(notification_id)
    await _check_victims(
        stores, incident_id=current.incident_id, kind=current.kind, texts=texts, actor=actor, now=at
    )
    return await stores.notifications.edit(notification_id, texts, actor=actor, now=at)


# -- CAP -------------------------------------------------------------------------------------


EARTH_RADIUS_KM = 6371.0088  # mean radius (IUGG); campus distances need no better


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle (haversine) distance between two WGS 84 points."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))


def campus_circle(site: SiteConfig) -> tuple[float, float, float]:
    """A circle (lat, lon, radius km) over every location with coordinates and every configured
    polygon: their centroid, out to the farthest of them plus ``circle_radius_km``.

    It places a notification about no one location (a test, a hand draft) or about a location
    without coordinates. ConfigError if the site gives no coordinates at all: CAP receivers
    need a place on the map, and a message that has none is refused rather than sent vague.
    """
    points = [(loc.lat, loc.lon) for loc in site.locations if loc.lat is not None and loc.lon is not None]
    points += [p for ring in site.notifications.areas.values() for p in parse_cap_polygon(ring)]
    if not points:
        # The site file is what lacks it, so this is a configuration error, not a bad request.
        raise ConfigError(
            "notifications",
            [
                ConfigProblem(
                    "notifications",
                    "no location has lat/lon and no [notifications.areas] polygon is set: a CAP area "
                    "needs a circle or polygon; give the locations their coordinates",
                )
            ],
        )
    centre = (sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points))
    farthest = max(distance_km(centre, p) for p in points)
    # Rounded up to whole metres, so the printed radius still reaches the farthest point.
    radius = math.ceil((farthest + site.notifications.circle_radius_km) * 1000) / 1000
    return round(centre[0], 6), round(centre[1], 6), radius


def _area(site: SiteConfig, notification: Notification) -> CapArea:
    """The public label with a polygon ([notifications.areas]) or a circle around the location's
    lat/lon; with no location, or one without coordinates, the campus circle (``campus_circle``).

    A location without coordinates is not a configuration error: it may be off the map on
    purpose (a mall where the campus rents space); covering the whole campus warns more people,
    which is the safe side of a warning.
    """
    location = _location(site, notification.location_id) if notification.location_id else None
    if location is not None:
        polygon = site.notifications.areas.get(location.id)
        if polygon is not None:
            return CapArea(notification.area_desc, polygon=parse_cap_polygon(polygon))
        if location.lat is not None and location.lon is not None:
            radius = site.notifications.circle_radius_km
            return CapArea(notification.area_desc, circle=(location.lat, location.lon, radius))
    return CapArea(notification.area_desc, circle=campus_circle(site))


async def build_alert(
    stores: Stores, site: SiteConfig, notification: Notification, *, sent_at: datetime
) -> CapAlert:
    references: tuple[str, ...] = ()
    if notification.follows_id is not None:
        earlier = await stores.notifications.cap_message(notification.follows_id)
        if earlier is None:
            raise NotificationConflict(f"notification {notification.follows_id} was never issued")
        references = (reference(earlier.sender, earlier.identifier, earlier.sent),)
    cfg = site.notifications
    return CapAlert(
        identifier=notification.identifier,
        sender=cfg.sender,
        sent=cap_time(sent_at, site.site.timezone),
        status=notification.cap_status,
        msg_type=notification.msg_type,
        category=notification.category,
        event=notification.event,
        response_type=notification.response_type,
        urgency=notification.urgency,
        severity=notification.severity,
        certainty=notification.certainty,
        headline=notification.headline,
        description=notification.description,
        instruction=notification.instruction,
        sender_name=cfg.sender_name or site.site.name,
        area=_area(site, notification),
        references=references,
    )


async def preview(
    stores: Stores, site: SiteConfig, notification_id: int, *, now: datetime | None = None
) -> bytes:
    """The issued CAP XML, or for a draft the XML approval would send (``sent`` = now).

    A declined notification has none: NotificationConflict says so, since XML printed for it
    would look ready to send.
    """
    issued = await stores.notifications.cap_message(notification_id)
    if issued is not None:
        return issued.xml
    notification = await stores.notifications.get(notification_id)
    if notification.status == "declined":
        raise NotificationConflict(
            f"notification {notification_id} was declined by {notification.decided_by} "
            f"({notification.decline_reason}); it has no CAP message and none will be sent"
        )
    return render(await build_alert(stores, site, notification, sent_at=now or datetime.now(UTC)))


# -- decisions -------------------------------------------------------------------------------


def _require(field: str, value: str | None, what: str) -> str:
    if value is None or not value.strip():
        raise _problem(field, f"{what} is required")
    return value.strip()


async def approve(
    stores: Stores,
    site: SiteConfig,
    *,
    notification_id: int,
    actor: str,
    basis: str | None = None,
    now: datetime | None = None,
) -> CapMessage:
    """Issue a draft: re-check victims, render CAP, store it and queue it for every sink, at once."""
    approver = _require("actor", actor, "the approving actor")
    at = now or datetime.now(UTC)
    notification = await stores.notifications.get(notification_id)
    if notification.status != "draft":
        raise NotificationConflict(f"notification {notification_id} is already {notification.status}")
    texts = {f: getattr(notification, f) for f in TEXT_FIELDS}
    await _check_victims(
        stores,
        incident_id=notification.incident_id,
        kind=notification.kind,
        texts=texts,
        actor=approver,
        now=at,
    )
    alert = await build_alert(stores, site, notification, sent_at=at)
    cap = NewCapMessage(
        identifier=alert.identifier,
        sender=alert.sender,
        sent=alert.sent,
        sent_at=at,
        status=alert.status,
        msg_type=alert.msg_type,
        references=" ".join(alert.references) or None,
        xml=render(alert),
    )
    return await stores.notifications.approve(
        notification_id,
        expected_version=notification.version,
        basis=(basis or "").strip() or PROFILES[notification.kind].basis,
        cap=cap,
        sinks=sink_plan(site),
        actor=approver,
        now=at,
    )


async def decline(
    stores: Stores, *, notification_id: int, actor: str, reason: str, now: datetime | None = None
) -> Notification:
    """Decide not to issue, with the reason (e.g. issuing would compromise efforts to contain it)."""
    return await stores.notifications.decline(
        notification_id,
        reason=_require("reason", reason, "the reason for not issuing"),
        actor=_require("actor", actor, "the deciding actor"),
        now=now or datetime.now(UTC),
    )


# -- emergency tests -------------------------------------------------------------------------


async def record_test(
    stores: Stores,
    site: SiteConfig,
    *,
    description: str,
    started_at: datetime,
    ended_at: datetime,
    announced: bool,
    actor: str,
    with_cap: bool = False,
    now: datetime | None = None,
) -> tuple[EmergencyTest, CapMessage | None]:
    """Record a test; ``with_cap`` also issues a CAP status=Exercise message through approval."""
    at = now or datetime.now(UTC)
    what = _require("description", description, "a description of the exercise")
    recorder = _require("actor", actor, "who records the test")
    for field, value in (("started_at", started_at), ("ended_at", ended_at)):
        if value.tzinfo is None:
            raise _problem(field, "needs a time zone (add Z or +hh:mm)")
    if ended_at <= started_at:
        raise _problem("ended_at", "must be after started_at", related=("started_at",))
    message = None
    if with_cap:
        exercise = await draft(
            stores,
            site,
            kind="test",
            actor=recorder,
            nature=what,
            cap_status="Exercise",
            texts={"headline": f"EXERCISE: {what}"},
            now=at,
        )
        message = await approve(stores, site, notification_id=exercise.id, actor=recorder, now=at)
    test = await stores.notifications.record_test(
        description=what,
        started_at=started_at,
        ended_at=ended_at,
        announced=announced,
        notification_id=message.notification_id if message else None,
        actor=recorder,
        now=at,
    )
    return test, message


async def emergency_tests_of_year(stores: Stores, site: SiteConfig, year: int) -> list[EmergencyTest]:
    """Tests that started in ``year`` of the institution's calendar."""
    zone = ZoneInfo(site.site.timezone)
    return await stores.notifications.tests_between(
        datetime(year, 1, 1, tzinfo=zone), datetime(year + 1, 1, 1, tzinfo=zone)
    )
