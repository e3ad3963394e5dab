"""CAP 1.2 (OASIS Common Alerting Protocol) alerts, built with lxml.

Only what a campus alert needs: one ``info`` block in US English and one ``area`` with a polygon
or a circle (an alert that says where only in words cannot be placed on a map by a receiver). The
schema's own rules are enforced here as well (element order, closed vocabularies, ``sent`` with a
numeric offset and never "Z", UTC as "-00:00"), so a message that leaves vmsbridge validates
against the official CAP 1.2 XSD; the prose rules the XSD cannot express (a polygon closes on
its first point, a reference is "sender,identifier,sent") are checked too.
"""

from __future__ import annotations

__all__ = [
    "CAP_NAMESPACE",
    "CapAlert",
    "CapArea",
    "cap_time",
    "reference",
    "render",
]

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from lxml import etree

CAP_NAMESPACE = "urn:oasis:names:tc:emergency:cap:1.2"

STATUSES = ("Actual", "Exercise", "System", "Test", "Draft")
MSG_TYPES = ("Alert", "Update", "Cancel", "Ack", "Error")
SCOPES = ("Public", "Restricted", "Private")
CATEGORIES = (
    "Geo",
    "Met",
    "Safety",
    "Security",
    "Rescue",
    "Fire",
    "Health",
    "Env",
    "Transport",
    "Infra",
    "CBRNE",
    "Other",
)
RESPONSE_TYPES = (
    "Shelter",
    "Evacuate",
    "Prepare",
    "Execute",
    "Avoid",
    "Monitor",
    "Assess",
    "AllClear",
    "None",
)
URGENCIES = ("Immediate", "Expected", "Future", "Past", "Unknown")
SEVERITIES = ("Extreme", "Severe", "Moderate", "Minor", "Unknown")
CERTAINTIES = ("Observed", "Likely", "Possible", "Unlikely", "Unknown")

# CAP 1.2 §3.3.2: identifiers and sender ids must not contain spaces, commas or restricted characters.
_IDENT = re.compile(r"^[^\s,<&]+$")


@dataclass(frozen=True)
class CapArea:
    """``description`` is the public label; a polygon (closed ring) or a circle, at least one."""

    description: str
    polygon: tuple[tuple[float, float], ...] = ()
    circle: tuple[float, float, float] | None = None  # latitude, longitude, radius in km

    def __post_init__(self) -> None:
        if not self.polygon and self.circle is None:
            raise ValueError(f"the CAP area {self.description!r} needs a polygon or a circle")


@dataclass(frozen=True)
class CapAlert:
    identifier: str
    sender: str
    sent: str  # already formatted by cap_time(), so what is stored is what was sent
    status: str
    msg_type: str
    category: str
    event: str
    response_type: str
    urgency: str
    severity: str
    certainty: str
    headline: str
    description: str
    instruction: str
    sender_name: str
    area: CapArea
    references: tuple[str, ...] = ()
    scope: str = "Public"
    note: str | None = None
    language: str = "en-US"

    def __post_init__(self) -> None:
        for name, value, allowed in (
            ("status", self.status, STATUSES),
            ("msgType", self.msg_type, MSG_TYPES),
            ("scope", self.scope, SCOPES),
            ("category", self.category, CATEGORIES),
            ("responseType", self.response_type, RESPONSE_TYPES),
            ("urgency", self.urgency, URGENCIES),
            ("severity", self.severity, SEVERITIES),
            ("certainty", self.certainty, CERTAINTIES),
        ):
            if value not in allowed:
                raise ValueError(f"CAP {name} {value!r} is not one of {', '.join(allowed)}")
        for name, value in (("identifier", self.identifier), ("sender", self.sender)):
            if not _IDENT.match(value):
                raise ValueError(f"CAP {name} {value!r} must have no spaces, commas, '<' or '&'")
        if self.scope != "Public":
            raise ValueError(
                "campus alerts are Public; Restricted/Private need addresses vmsbridge does not keep"
            )
        if self.msg_type in ("Update", "Cancel") and not self.references:
            raise ValueError(f"a CAP {self.msg_type} must reference the message it follows")
        if self.sent.endswith("Z") or not re.fullmatch(
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", self.sent
        ):
            raise ValueError(f"CAP sent {self.sent!r} must look like 2026-11-25T14:03:00-06:00")


def cap_time(at: datetime, timezone: str) -> str:
    """A CAP date-time in the institution's zone: seconds and a numeric offset, never "Z".

    CAP 1.2 §3.3.2 writes UTC as "-00:00", never "+00:00" (Python's spelling).
    """
    if at.tzinfo is None:
        raise ValueError("a CAP time needs a time zone")
    text = at.astimezone(ZoneInfo(timezone)).isoformat(timespec="seconds")
    return text.removesuffix("+00:00") + "-00:00" if text.endswith("+00:00") else text


def reference(sender: str, identifier: str, sent: str) -> str:
    """One entry of ``references``: the earlier message as "sender,identifier,sent"."""
    return f"{sender},{identifier},{sent}"


def _number(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".")


def render(alert: CapAlert) -> bytes:
    """The alert as UTF-8 XML, elements in the order the CAP 1.2 schema requires."""
    ns = f"{{{CAP_NAMESPACE}}}"
    root = etree.Element(f"{ns}alert", nsmap={None: CAP_NAMESPACE})

    def child(parent: etree._Element, name: str, text: str) -> None:
        etree.SubElement(parent, f"{ns}{name}").text = text

    child(root, "identifier", alert.identifier)
    child(root, "sender", alert.sender)
    child(root, "sent", alert.sent)
    child(root, "status", alert.status)
    child(root, "msgType", alert.msg_type)
    child(root, "scope", alert.scope)
    if alert.note:
        child(root, "note", alert.note)
    if alert.references:
        child(root, "references", " ".join(alert.references))
    info = etree.SubElement(root, f"{ns}info")
    child(info, "language", alert.language)
    child(info, "category", alert.category)
    child(info, "event", alert.event)
    child(info, "responseType", alert.response_type)
    child(info, "urgency", alert.urgency)
    child(info, "severity", alert.severity)
    child(info, "certainty", alert.certainty)
    child(info, "senderName", alert.sender_name)
    child(info, "headline", alert.headline)
    child(info, "description", alert.description)
    child(info, "instruction", alert.instruction)
    area = etree.SubElement(info, f"{ns}area")
    child(area, "areaDesc", alert.area.description)
    if alert.area.polygon:
        child(area, "polygon", " ".join(f"{_number(a)},{_number(o)}" for a, o in alert.area.polygon))
    if alert.area.circle is not None:
        lat, lon, radius = alert.area.circle
        child(area, "circle", f"{_number(lat)},{_number(lon)} {_number(radius)}")
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
