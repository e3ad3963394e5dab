"""SOAP 1.2 for the emulated devices: namespaces and service addresses, XML building and reading,
faults, envelopes, xs:duration, and the parsed call a service operation receives.

Names with a leading underscore are shared by the emulator's modules only.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Final

__all__ = ["CONCRETE_SET_DIALECT", "NAMESPACES", "SOAP_CONTENT_TYPE", "SUBSCRIPTION_PATH", "parse_duration"]

# Responses are built with literal "prefix:name" tags and every namespace declared once on the
# Envelope. ElementTree would otherwise invent ns0/ns1 prefixes (or need the process-wide
# register_namespace), and QName-valued text such as "tns1:Device/Trigger/DigitalInput" or
# "ter:NotAuthorized" only resolves when the prefix it names is declared in scope.
NAMESPACES: Final = MappingProxyType(
    {
        "s": "http://www.w3.org/2003/05/soap-envelope",
        "tt": "http://www.onvif.org/ver10/schema",
        "tds": "http://www.onvif.org/ver10/device/wsdl",
        "trt": "http://www.onvif.org/ver10/media/wsdl",
        "tptz": "http://www.onvif.org/ver20/ptz/wsdl",
        "tev": "http://www.onvif.org/ver10/events/wsdl",
        "tmd": "http://www.onvif.org/ver10/deviceIO/wsdl",
        "timg": "http://www.onvif.org/ver20/imaging/wsdl",
        "tse": "http://www.onvif.org/ver10/search/wsdl",
        "trc": "http://www.onvif.org/ver10/recording/wsdl",
        "trp": "http://www.onvif.org/ver10/replay/wsdl",
        "tdc": "http://www.onvif.org/ver10/doorcontrol/wsdl",
        "pt": "http://www.onvif.org/ver10/pacs",
        "wsnt": "http://docs.oasis-open.org/wsn/b-2",
        "wsntw": "http://docs.oasis-open.org/wsn/bw-2",
        "wstop": "http://docs.oasis-open.org/wsn/t-1",
        "wsa": "http://www.w3.org/2005/08/addressing",
        "wsrf-rw": "http://docs.oasis-open.org/wsrf/rw-2",
        "wsrf-r": "http://docs.oasis-open.org/wsrf/r-2",
        "wsrf-bf": "http://docs.oasis-open.org/wsrf/bf-2",
        "tns1": "http://www.onvif.org/ver10/topics",
        "ter": "http://www.onvif.org/ver10/error",
        "xs": "http://www.w3.org/2001/XMLSchema",
    }
)

SOAP_CONTENT_TYPE: Final = "application/soap+xml; charset=utf-8"
CONCRETE_SET_DIALECT: Final = "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet"
SUBSCRIPTION_PATH: Final = "/onvif/subscription"

# Service key -> (namespace as in onvif/definition.py of onvif-zeep-async, URL path, version).
_SERVICES: Final = MappingProxyType(
    {
        "device": ("http://www.onvif.org/ver10/device/wsdl", "/onvif/device_service", (22, 12)),
        "media": ("http://www.onvif.org/ver10/media/wsdl", "/onvif/media_service", (22, 12)),
        "ptz": ("http://www.onvif.org/ver20/ptz/wsdl", "/onvif/ptz_service", (22, 12)),
        "events": ("http://www.onvif.org/ver10/events/wsdl", "/onvif/event_service", (22, 12)),
        "deviceio": ("http://www.onvif.org/ver10/deviceIO/wsdl", "/onvif/deviceio_service", (22, 12)),
        "imaging": ("http://www.onvif.org/ver20/imaging/wsdl", "/onvif/imaging_service", (22, 12)),
        # Profile G: finding recordings, describing them, and the RTSP address that replays them.
        "search": ("http://www.onvif.org/ver10/search/wsdl", "/onvif/search_service", (22, 12)),
        "recording": ("http://www.onvif.org/ver10/recording/wsdl", "/onvif/recording_service", (22, 12)),
        "replay": ("http://www.onvif.org/ver10/replay/wsdl", "/onvif/replay_service", (22, 12)),
    }
)

_EVENTS_ACTION: Final = "http://www.onvif.org/ver10/events/wsdl"
_WSN_ACTION: Final = "http://docs.oasis-open.org/wsn/bw-2"
_RESPONSE_ACTIONS: Final = MappingProxyType(
    {
        (
            "events",
            "GetServiceCapabilities",
        ): f"{_EVENTS_ACTION}/EventPortType/GetServiceCapabilitiesResponse",
        ("events", "GetEventProperties"): f"{_EVENTS_ACTION}/EventPortType/GetEventPropertiesResponse",
        ("events", "CreatePullPointSubscription"): (
            f"{_EVENTS_ACTION}/EventPortType/CreatePullPointSubscriptionResponse"
        ),
        ("subscription", "PullMessages"): f"{_EVENTS_ACTION}/PullPointSubscription/PullMessagesResponse",
        ("subscription", "SetSynchronizationPoint"): (
            f"{_EVENTS_ACTION}/PullPointSubscription/SetSynchronizationPointResponse"
        ),
        ("subscription", "Renew"): f"{_WSN_ACTION}/SubscriptionManager/RenewResponse",
        ("subscription", "Unsubscribe"): f"{_WSN_ACTION}/SubscriptionManager/UnsubscribeResponse",
    }
)
_FAULT_ACTION: Final = "http://www.w3.org/2005/08/addressing/soap/fault"

_DURATION_RE: Final = re.compile(
    r"^P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


def _el(tag: str, *children: ET.Element | str | None, attrs: Mapping[str, str] | None = None) -> ET.Element:
    """An element with a literal prefixed tag; a str child becomes its text, None is skipped."""
    elem = ET.Element(tag, dict(attrs or {}))
    for child in children:
        if child is None:
            continue
        if isinstance(child, str):
            elem.text = child
        else:
            elem.append(child)
    return elem


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(elem: ET.Element | None, *path: str) -> ET.Element | None:
    """Follow ``path`` by local names, whatever namespace (or SOAP version) the client used."""
    for name in path:
        if elem is None:
            return None
        elem = next((c for c in elem if _local(c.tag) == name), None)
    return elem


def _children(elem: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in elem if _local(c.tag) == name]


def _text(elem: ET.Element | None, *path: str) -> str | None:
    found = _child(elem, *path)
    if found is None or found.text is None:
        return None
    return found.text.strip()


def _format_time(when: datetime) -> str:
    when = when.astimezone(UTC)
    spec = "milliseconds" if when.microsecond else "seconds"
    return when.isoformat(timespec=spec).replace("+00:00", "Z")


def _parse_datetime(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_duration(value: str) -> timedelta:
    """An xs:duration such as ``PT60S``, ``PT1M`` or ``P1DT2.5S``; years and months are approximate."""
    match = _DURATION_RE.match(value.strip())
    if match is None or value.strip() in ("P", "PT") or value.strip().endswith("T"):
        raise ValueError(f"not an xs:duration: {value!r}")
    parts = {k: float(v) if v else 0.0 for k, v in match.groupdict().items()}
    return timedelta(
        days=parts["years"] * 365 + parts["months"] * 30 + parts["weeks"] * 7 + parts["days"],
        hours=parts["hours"],
        minutes=parts["minutes"],
        seconds=parts["seconds"],
    )


class _SoapFault(Exception):
    """Raised by an operation handler; rendered as a SOAP 1.2 Fault."""

    def __init__(
        self,
        code: str,
        subcodes: tuple[str, ...],
        reason: str,
        *,
        status: int | None = None,
        detail: ET.Element | None = None,
    ) -> None:
        super().__init__(reason)
        self.code = code
        self.subcodes = subcodes
        self.reason = reason
        # SOAP 1.2 HTTP binding: Sender faults are 400, Receiver faults 500.
        self.status = status if status is not None else (400 if code == "s:Sender" else 500)
        self.detail = detail

    def element(self) -> ET.Element:
        code = _el("s:Code", _el("s:Value", self.code))
        parent = code
        for subcode in self.subcodes:
            nested = _el("s:Subcode", _el("s:Value", subcode))
            parent.append(nested)
            parent = nested
        reason = _el("s:Reason", _el("s:Text", self.reason, attrs={"xml:lang": "en"}))
        detail = _el("s:Detail", self.detail) if self.detail is not None else None
        return _el("s:Fault", code, reason, detail)


def _not_authorized() -> _SoapFault:
    return _SoapFault("s:Sender", ("ter:NotAuthorized",), "Sender not Authorized")


def _invalid_arg(subcode: str, reason: str) -> _SoapFault:
    return _SoapFault("s:Sender", ("ter:InvalidArgVal", subcode), reason)


def _resource_unknown(reason: str) -> _SoapFault:
    detail = _el(
        "wsrf-r:ResourceUnknownFault",
        _el("wsrf-bf:Timestamp", _format_time(datetime.now(UTC))),
        _el("wsrf-bf:Description", reason),
    )
    return _SoapFault("s:Sender", ("wsrf-rw:ResourceUnknownFault",), reason, status=400, detail=detail)


def _envelope(body: ET.Element, *, action: str | None = None, relates_to: str | None = None) -> ET.Element:
    attrs = {f"xmlns:{prefix}": uri for prefix, uri in NAMESPACES.items()}
    header = _el("s:Header")
    if action:
        header.append(_el("wsa:Action", action))
    if relates_to:
        header.append(_el("wsa:RelatesTo", relates_to))
    return _el("s:Envelope", header, _el("s:Body", body), attrs=attrs)


def _serialize(envelope: ET.Element) -> str:
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(envelope, encoding="unicode")


def _parse_envelope(raw: bytes) -> ET.Element:
    # SOAP 1.2 forbids a DTD; refusing it also keeps entity tricks out of the emulator.
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        raise _SoapFault("s:Sender", ("ter:WellFormed",), "SOAP messages must not contain a DTD")
    try:
        envelope = ET.fromstring(raw)
    except ET.ParseError as exc:
        raise _SoapFault(
            "s:Sender", ("ter:WellFormed",), f"request body is not well-formed XML: {exc}"
        ) from exc
    if _local(envelope.tag) != "Envelope":
        raise _SoapFault("s:Sender", ("ter:WellFormed",), "request body is not a SOAP Envelope")
    return envelope


@dataclass(frozen=True)
class _Call:
    service: str
    operation: str
    body: ET.Element  # the operation element, first child of soap:Body
    base_url: str  # scheme://host:port as the client addressed us
    query: Mapping[str, str]


_Handler = Callable[[_Call], Awaitable[ET.Element | bytes]]
