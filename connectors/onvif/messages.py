"""Safe parsing of SOAP replies from devices: faults, and PullMessages notifications.

Devices are untrusted input. The parser refuses DTDs and entities (no XXE, no billion laughs),
never touches the network, caps the size it will look at, and turns a truncated or garbled body
into :class:`MalformedResponse` rather than an exception from deep inside lxml.
"""

from __future__ import annotations

__all__ = ["MAX_REPLY_BYTES", "Notification", "parse_fault", "parse_pull_messages", "parse_reply"]

from dataclasses import dataclass, field
from datetime import UTC, datetime

from lxml import etree

from connectors.onvif.errors import MalformedResponse, NotAuthorized, OnvifFault, SubscriptionGone

MAX_REPLY_BYTES = 8 * 1024 * 1024

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "s11": "http://schemas.xmlsoap.org/soap/envelope/",
    "wsnt": "http://docs.oasis-open.org/wsn/b-2",
    "tt": "http://www.onvif.org/ver10/schema",
    "tev": "http://www.onvif.org/ver10/events/wsdl",
}
ONVIF_TOPICS_NS = "http://www.onvif.org/ver10/topics"
PERSONAL_ITEMS = frozenset({"CredentialHolderName", "HolderName", "PersonName", "FirstName", "LastName"})
REDACTED = "[redacted]"

_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    recover=False,
)


@dataclass(frozen=True)
class Notification:
    """One ``wsnt:NotificationMessage``, flattened. ``raw`` is its XML, for inspection and tests."""

    topic: str
    utc_time: datetime | None
    operation: str | None
    source: dict[str, str] = field(default_factory=dict)
    data: dict[str, str] = field(default_factory=dict)
    raw: str = ""
    # The UtcTime the device sent when it is no usable time (0000-00-00, year 9999 at -14:00):
    # the event is then dated on receipt and keeps this as the device's time.
    bad_time: str | None = None


def parse_reply(device: str, body: bytes) -> etree._Element:
    """The SOAP Body of a reply, after refusing anything unsafe; raises the device's fault if any."""
    if len(body) > MAX_REPLY_BYTES:
        raise MalformedResponse(device, f"reply of {len(body)} bytes is larger than {MAX_REPLY_BYTES}")
    if b"<!DOCTYPE" in body[:4096].upper() or b"<!ENTITY" in body.upper():
        raise MalformedResponse(device, "reply contains a DTD or entity declarations; refused")
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise MalformedResponse(device, f"reply is not well-formed XML: {exc}") from None
    soap_body = root.find("s:Body", NS)
    if soap_body is None:
        soap_body = root.find("s11:Body", NS)
    if soap_body is None:
        raise MalformedResponse(device, f"reply has no SOAP Body (root element {root.tag!r})")
    fault = parse_fault(device, soap_body)
    if fault is not None:
        raise fault
    return soap_body


def parse_fault(device: str, soap_body: etree._Element) -> OnvifFault | None:
    fault = soap_body.find("s:Fault", NS)
    if fault is None:
        return None
    code = _qname_text(fault.find("s:Code/s:Value", NS))
    subcodes = [_qname_text(el) for el in fault.iterfind(".//s:Subcode/s:Value", NS)]
    reason_el = fault.find("s:Reason/s:Text", NS)
    reason = (reason_el.text or "").strip() if reason_el is not None else ""
    subcode = subcodes[-1] if subcodes else ""
    names = " ".join(subcodes)
    if "NotAuthorized" in names or "FailedAuthentication" in names:
        return NotAuthorized(device, code, subcode, reason or "not authorized")
    if "ResourceUnknown" in names or "ResourceUnknown" in reason:
        return SubscriptionGone(device, code, subcode, reason or "subscription unknown")
    return OnvifFault(device, code, subcode, reason)


def parse_pull_messages(device: str, body: bytes) -> tuple[list[Notification], datetime | None]:
    """Notifications in a PullMessagesResponse, and the device's TerminationTime for the pull point."""
    soap_body = parse_reply(device, body)
    response = soap_body.find("tev:PullMessagesResponse", NS)
    if response is None:
        raise MalformedResponse(device, "reply to PullMessages has no PullMessagesResponse")
    termination = _parse_time(_text(response.find("tev:TerminationTime", NS)))
    return [_notification(el) for el in response.iterfind("wsnt:NotificationMessage", NS)], termination


def _notification(element: etree._Element) -> Notification:
    # Names of people never leave this function: not in items, not in the raw XML kept.
    for item in element.iter(f"{{{NS['tt']}}}SimpleItem"):
        if item.get("Name") in PERSONAL_ITEMS:
            item.set("Value", REDACTED)
    topic_el = element.find("wsnt:Topic", NS)
    topic = normalize_topic(topic_el) if topic_el is not None else ""
    message = element.find("wsnt:Message/tt:Message", NS)
    raw = etree.tostring(element, encoding="unicode")
    if message is None:
        return Notification(topic, None, None, raw=raw)
    sent_time = (message.get("UtcTime") or "").strip()
    utc_time = _parse_time(sent_time)
    return Notification(
        topic=topic,
        utc_time=utc_time,
        operation=message.get("PropertyOperation"),
        source=_items(message.find("tt:Source", NS)),
        data=_items(message.find("tt:Data", NS)),
        raw=raw,
        bad_time=sent_time if sent_time and utc_time is None else None,
    )


def normalize_topic(topic_el: etree._Element) -> str:
    """The topic text with the ONVIF topic namespace written ``tns1:`` whatever prefix the device used.

    Trailing ``/`` and ``.`` are dropped: some firmware sends ``.../Motion//.``.
    """
    text = (topic_el.text or "").strip().rstrip("/.")
    prefix, sep, rest = text.partition(":")
    if sep and topic_el.nsmap.get(prefix) == ONVIF_TOPICS_NS:
        return f"tns1:{rest}"
    return text


def _items(container: etree._Element | None) -> dict[str, str]:
    if container is None:
        return {}
    return {
        str(item.get("Name")): str(item.get("Value", ""))
        for item in container.iterfind("tt:SimpleItem", NS)
        if item.get("Name")
    }


def _text(element: etree._Element | None) -> str | None:
    return element.text.strip() if element is not None and element.text else None


def _qname_text(element: etree._Element | None) -> str:
    text = _text(element) or ""
    return text.rpartition(":")[2] if ":" in text else text


def _parse_time(value: str | None) -> datetime | None:
    """Device times, tolerating what firmware gets wrong; None when unusable (e.g. 0000-00-00)."""
    if not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: in range only at its own offset
        return None
