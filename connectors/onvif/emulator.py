"""An ONVIF device emulator: real SOAP 1.2 over aiohttp, one listening port per device.

It is a standalone test peer for the ONVIF connector, the benchmarks and a CLI command, so it
never imports ``vmsbridge``. Each :class:`EmulatedDevice` answers the Device, Media (ver10),
PTZ (ver20), Events (PullPoint), DeviceIO and Imaging services the way onvif-zeep-async expects,
checks WS-Security UsernameToken digests against its own (offsettable) clock, and can be made to
misbehave like real cameras through :class:`Quirks`.

Events are injected with :meth:`EmulatedDevice.fire` (or its wrappers) in process, or through
the JSON control surface under ``/control/`` on every device port. Everything here runs on the
event loop that started the emulator; call ``fire()`` and friends from that loop only.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import hmac
import logging
import re
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, Final

from aiohttp import web

from connectors.emulation import LoopbackServer, SwitchableQuirks, control_body, control_error
from connectors.onvif.playback import loop_clip

__all__ = ["DeviceSpec", "EmulatedDevice", "OnvifEmulator", "ProfileSpec", "Quirks"]

log = logging.getLogger(__name__)

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

# Answered without a UsernameToken (ONVIF Core access class PRE_AUTH); a token that is present
# anyway is ignored, because clients with a skewed clock must still be able to read the time.
PRE_AUTH_OPERATIONS: Final = frozenset(
    {
        "GetSystemDateAndTime",
        "GetServices",
        "GetCapabilities",
        "GetServiceCapabilities",
        "GetWsdlUrl",
        "GetHostname",
    }
)

# Service key -> (namespace as in onvif/definition.py of onvif-zeep-async, URL path, version).
_SERVICES: Final = MappingProxyType(
    {
        "device": ("http://www.onvif.org/ver10/device/wsdl", "/onvif/device_service", (22, 12)),
        "media": ("http://www.onvif.org/ver10/media/wsdl", "/onvif/media_service", (22, 12)),
        "ptz": ("http://www.onvif.org/ver20/ptz/wsdl", "/onvif/ptz_service", (22, 12)),
        "events": ("http://www.onvif.org/ver10/events/wsdl", "/onvif/event_service", (22, 12)),
        "deviceio": ("http://www.onvif.org/ver10/deviceIO/wsdl", "/onvif/deviceio_service", (22, 12)),
        "imaging": ("http://www.onvif.org/ver20/imaging/wsdl", "/onvif/imaging_service", (22, 12)),
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

# Topics whose messages describe a state rather than an instant (ONVIF "properties"): the device
# remembers the latest value and re-sends it as "Initialized" to new and re-synchronised pull points.
_PROPERTY_TOPICS: Final = frozenset(
    {
        "tns1:Device/Trigger/DigitalInput",
        "tns1:Device/Trigger/Relay",
        "tns1:VideoSource/MotionAlarm",
        "tns1:VideoSource/SignalLoss",
    }
)
_PROPERTY_TOPIC_PREFIXES: Final = (
    "tns1:Door/State/",
    "tns1:VideoSource/GlobalSceneChange/",
    "tns1:AccessPoint/State/",
)

DOOR_ALARM_STATES: Final = frozenset({"Normal", "DoorForcedOpen", "DoorOpenTooLong"})
DOOR_PHYSICAL_STATES: Final = frozenset({"Open", "Closed", "Fault", "Unknown"})
HOSTILE_XML_KINDS: Final = frozenset({"entity_expansion", "huge"})
# Strictly above the 20 MB the quirk promises, whichever way a megabyte is counted.
HUGE_RESPONSE_BYTES: Final = 21 * 1024 * 1024
_PLACEHOLDER: Final = "__vmsbridge_emulator_placeholder__"
_RESOLUTION: Final = (1280, 720)

_DURATION_RE: Final = re.compile(
    r"^P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


def is_property_topic(topic: str) -> bool:
    """Whether ``topic`` (with the ``tns1:`` prefix) is an ONVIF property, i.e. carries state."""
    return topic in _PROPERTY_TOPICS or topic.startswith(_PROPERTY_TOPIC_PREFIXES)


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


@dataclass
class ProfileSpec:
    """One media profile. Profiles sharing ``video_source`` share one VideoSourceConfiguration."""

    token: str
    video_source: str
    ptz: bool = False
    presets: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.token or not self.video_source:
            raise ValueError("ProfileSpec needs a token and a video_source")


MAX_PLAYBACK_SECONDS: Final = 600.0


def preset_position(preset: str | None) -> tuple[float, float, float]:
    """The pan, tilt and zoom an emulated preset points at: fixed per token, home (0, 0, 0) for None."""
    if preset is None:
        return (0.0, 0.0, 0.0)
    digest = hashlib.sha256(preset.encode()).digest()
    pan, tilt, zoom = (b / 255 for b in digest[:3])
    return (round(pan * 2 - 1, 4), round(tilt * 2 - 1, 4), round(zoom, 4))


def _default_profiles() -> list[ProfileSpec]:
    return [ProfileSpec(token="Profile_1", video_source="VideoSource_1")]


@dataclass
class DeviceSpec:
    """What one emulated camera or controller has: identity, profiles, I/O and Profile C tokens."""

    id: str
    manufacturer: str = "vmsbridge"
    model: str = "EmuCam 1"
    firmware: str = "1.0"
    serial: str = ""
    profiles: list[ProfileSpec] = field(default_factory=_default_profiles)
    inputs: list[str] = field(default_factory=list)
    relays: list[str] = field(default_factory=list)
    doors: list[str] = field(default_factory=list)
    access_points: list[str] = field(default_factory=list)
    clip: Path | None = None

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("DeviceSpec needs an id")
        if not self.profiles:
            raise ValueError(f"device {self.id!r} needs at least one profile")
        for what, tokens in (
            ("profile", [p.token for p in self.profiles]),
            ("input", self.inputs),
            ("relay", self.relays),
            ("door", self.doors),
            ("access point", self.access_points),
        ):
            if len(set(tokens)) != len(tokens):
                raise ValueError(f"device {self.id!r} has duplicate {what} tokens: {tokens}")
        if not self.serial:
            # Stable across runs so evidence and snapshots of a test device stay comparable.
            self.serial = "EMU" + hashlib.sha1(self.id.encode()).hexdigest()[:10].upper()


@dataclass
class Quirks(SwitchableQuirks):
    """Real-world misbehaviour, all off by default; tests flip fields at run time."""

    renew_fails: bool = False
    pull_always_empty: bool = False
    max_pull_points: int = 4
    require_initial_termination_time: bool = False
    delay_seconds: float = 0.0
    http_500: bool = False
    malformed_xml: bool = False
    hostile_xml: str | None = None
    reject_all_auth: bool = False
    # Many devices stamp a re-sent ("Initialized") state with the time of sending, so a re-sync
    # looks like a new event; by default the emulator keeps the time the state began.
    initialized_now: bool = False

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "max_pull_points":
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError(f"max_pull_points must be an int >= 0, got {value!r}")
            elif f.name == "delay_seconds":
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise ValueError(f"delay_seconds must be a number >= 0, got {value!r}")
                self.delay_seconds = float(value)
            elif f.name == "hostile_xml":
                if value is not None and value not in HOSTILE_XML_KINDS:
                    raise ValueError(f"hostile_xml must be None or one of {sorted(HOSTILE_XML_KINDS)}")
            elif not isinstance(value, bool):
                raise ValueError(f"{f.name} must be a bool, got {value!r}")


# --------------------------------------------------------------------------------------------
# Small XML, time and fault helpers
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Notification:
    topic: str
    source: tuple[tuple[str, str], ...]
    data: tuple[tuple[str, str], ...]
    utc_time: datetime
    operation: str | None  # None for non-property events: PropertyOperation is then omitted

    def element(self) -> ET.Element:
        attrs = {"UtcTime": _format_time(self.utc_time)}
        if self.operation is not None:
            attrs["PropertyOperation"] = self.operation
        message = _el(
            "tt:Message",
            _items("tt:Source", self.source),
            _items("tt:Data", self.data),
            attrs=attrs,
        )
        return _el(
            "wsnt:NotificationMessage",
            _el("wsnt:Topic", self.topic, attrs={"Dialect": CONCRETE_SET_DIALECT}),
            _el("wsnt:Message", message),
        )


def _items(tag: str, items: tuple[tuple[str, str], ...]) -> ET.Element | None:
    if not items:
        return None
    return _el(tag, *(_el("tt:SimpleItem", attrs={"Name": n, "Value": v}) for n, v in items))


@dataclass(eq=False)
class _PullPoint:
    id: int
    termination: datetime  # real UTC, deliberately unaffected by the device clock offset
    queue: deque[_Notification] = field(default_factory=deque)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False

    def close(self) -> None:
        self.closed = True
        self.wakeup.set()


@dataclass(frozen=True)
class _TopicInfo:
    topic: str
    needs: str  # which DeviceSpec feature makes the device able to emit it
    source: tuple[tuple[str, str], ...]
    data: tuple[tuple[str, str], ...]


_TOPIC_CATALOG: Final = (
    _TopicInfo(
        "tns1:Device/Trigger/DigitalInput",
        "inputs",
        (("InputToken", "tt:ReferenceToken"),),
        (("LogicalState", "xs:boolean"),),
    ),
    _TopicInfo(
        "tns1:Device/Trigger/Relay",
        "relays",
        (("RelayToken", "tt:ReferenceToken"),),
        (("LogicalState", "tt:RelayLogicalState"),),
    ),
    _TopicInfo(
        "tns1:VideoSource/MotionAlarm",
        "video",
        (("Source", "tt:ReferenceToken"),),
        (("State", "xs:boolean"),),
    ),
    _TopicInfo(
        "tns1:VideoSource/SignalLoss", "video", (("Source", "tt:ReferenceToken"),), (("State", "xs:boolean"),)
    ),
    _TopicInfo(
        "tns1:VideoSource/GlobalSceneChange/ImagingService",
        "video",
        (("Source", "tt:ReferenceToken"),),
        (("State", "xs:boolean"),),
    ),
    _TopicInfo(
        "tns1:RuleEngine/CellMotionDetector/Motion",
        "video",
        (
            ("VideoSourceConfigurationToken", "tt:ReferenceToken"),
            ("VideoAnalyticsConfigurationToken", "tt:ReferenceToken"),
            ("Rule", "xs:string"),
        ),
        (("IsMotion", "xs:boolean"),),
    ),
    _TopicInfo(
        "tns1:Door/State/DoorAlarm",
        "doors",
        (("DoorToken", "pt:ReferenceToken"),),
        (("State", "tdc:DoorAlarmState"),),
    ),
    _TopicInfo(
        "tns1:Door/State/DoorPhysicalState",
        "doors",
        (("DoorToken", "pt:ReferenceToken"),),
        (("State", "tdc:DoorPhysicalState"),),
    ),
    _TopicInfo(
        "tns1:AccessControl/AccessGranted/Credential",
        "access_points",
        (("AccessPointToken", "pt:ReferenceToken"),),
        (("CredentialToken", "pt:ReferenceToken"),),
    ),
    _TopicInfo(
        "tns1:AccessControl/Denied/Credential",
        "access_points",
        (("AccessPointToken", "pt:ReferenceToken"),),
        (("CredentialToken", "pt:ReferenceToken"), ("Reason", "xs:string")),
    ),
)


def _topic_set(topics: Iterable[_TopicInfo]) -> ET.Element:
    """A wstop:TopicSet: one nested element per topic path segment, leaves marked as topics."""
    root = _el("wstop:TopicSet")
    for info in topics:
        parent = root
        segments = info.topic.removeprefix("tns1:").split("/")
        for depth, segment in enumerate(segments):
            tag = f"tns1:{segment}"
            node = next((c for c in parent if c.tag == tag), None)
            if node is None:
                node = _el(tag)
                parent.append(node)
            parent = node
            if depth == len(segments) - 1:
                node.set("wstop:topic", "true")
                description = _el(
                    "tt:MessageDescription",
                    _descriptions("tt:Source", info.source),
                    _descriptions("tt:Data", info.data),
                    attrs={"IsProperty": _bool(is_property_topic(info.topic))},
                )
                node.append(description)
    return root


def _descriptions(tag: str, items: tuple[tuple[str, str], ...]) -> ET.Element:
    return _el(tag, *(_el("tt:SimpleItemDescription", attrs={"Name": n, "Type": t}) for n, t in items))


def _hostile_pull_response(kind: str, response: ET.Element) -> bytes:
    """Wrap a PullMessages response carrying ``_PLACEHOLDER`` into a hostile document."""
    text = _serialize(response)
    if kind == "entity_expansion":
        # Billion laughs: ten levels of tenfold expansion, 10**9 copies of "lol" once resolved.
        entities = ['<!ENTITY lol0 "lol">'] + [
            f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
        ]
        doctype = "<!DOCTYPE s:Envelope [\n" + "\n".join(entities) + "\n]>\n"
        declaration, _, rest = text.partition("\n")
        return (declaration + "\n" + doctype + rest.replace(_PLACEHOLDER, "&lol9;")).encode()
    head, _, tail = text.partition(_PLACEHOLDER)
    padding = HUGE_RESPONSE_BYTES - len(head) - len(tail)
    return head.encode() + b"A" * max(padding, 0) + tail.encode()


def _render_snapshot(label: str) -> bytes:
    # Imported here so importing the emulator (e.g. for a CLI --help) does not pay for OpenCV.
    import cv2
    import numpy as np

    frame = np.full((240, 320, 3), 96, dtype=np.uint8)
    cv2.putText(frame, label, (10, 125), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
    ok, encoded = cv2.imencode(".jpg", frame)
    if not ok:
        raise RuntimeError("OpenCV could not encode the snapshot JPEG")
    return bytes(encoded.tobytes())


# --------------------------------------------------------------------------------------------
# One device
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Call:
    service: str
    operation: str
    body: ET.Element  # the operation element, first child of soap:Body
    base_url: str  # scheme://host:port as the client addressed us
    query: Mapping[str, str]


_Handler = Callable[[_Call], Awaitable[ET.Element | bytes]]


class EmulatedDevice:
    """One emulated ONVIF device listening on its own port.

    Public state (``counters``, ``ptz_status``, ``goto_calls``, ``quirks``, ``clock_offset``) may
    be read and changed by tests at any time from the emulator's event loop.
    """

    #: WS-Security ``Created`` must be within this many seconds of the device clock.
    auth_window_seconds: float = 60.0
    #: How long a simulated GotoPreset keeps the PTZ status at MOVING.
    ptz_move_seconds: float = 0.2
    #: Subscription length when CreatePullPointSubscription has no InitialTerminationTime.
    default_subscription_seconds: float = 60.0
    #: Per pull point; beyond it the oldest queued message is dropped, as a full camera buffer does.
    max_queued_messages: int = 10_000

    def __init__(self, spec: DeviceSpec, *, host: str, port: int, username: str, password: str) -> None:
        self.spec = spec
        self.username = username
        self.password = password
        self.quirks = Quirks()
        self.clock_offset = timedelta(0)
        self.counters: dict[str, int] = {}
        self.ptz_status: dict[str, str] = {p.token: "IDLE" for p in spec.profiles if p.ptz}
        self.goto_calls: list[tuple[str, str]] = []
        self.goto_received_at: list[datetime] = []  # our clock, when each GotoPreset arrived
        # Where each PTZ profile points: the preset it last reached (None: home position).
        self.ptz_preset: dict[str, str | None] = {p.token: None for p in spec.profiles if p.ptz}
        self.playback_requests: list[tuple[str, datetime, datetime]] = []
        self._playback_cache: dict[tuple[str, int], bytes] = {}
        self._server = LoopbackServer(host, port, f"ONVIF device {spec.id!r}")
        self._pull_points: dict[int, _PullPoint] = {}
        self._next_pull_point_id = 1
        self._states: dict[tuple[str, tuple[tuple[str, str], ...]], _Notification] = {}
        self._ptz_timers: dict[str, asyncio.TimerHandle] = {}
        self._parked_pulls = 0
        self._pull_parked = asyncio.Event()
        self._snapshots: dict[str, bytes] = {}
        self._profiles = {p.token: p for p in spec.profiles}
        self._video_sources = list(dict.fromkeys(p.video_source for p in spec.profiles))
        self._handlers = self._build_handlers()

    # ---- lifecycle -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def url(self) -> str:
        return self._server.url

    async def start(self) -> None:
        await self._server.serve(self._build_app())
        log.debug("ONVIF emulator %s listening on %s", self.spec.id, self.url)

    async def stop(self) -> None:
        for pull_point in self._pull_points.values():
            pull_point.close()
        self._pull_points.clear()
        self._cancel_ptz_moves()
        await self._server.shutdown()

    # ---- clock, subscriptions --------------------------------------------------------------

    def device_now(self) -> datetime:
        """The device clock: real UTC now plus ``clock_offset``."""
        return datetime.now(UTC) + self.clock_offset

    @property
    def live_subscriptions(self) -> int:
        """Pull points neither unsubscribed nor expired."""
        self._expire_pull_points()
        return len(self._pull_points)

    async def wait_for_pull(self) -> None:
        """Return once at least one PullMessages call is parked waiting for an event.

        Lets a test fire an event strictly after a long-poll began, without sleeping.
        """
        await self._pull_parked.wait()

    def vsc_token(self, video_source: str) -> str:
        """The VideoSourceConfiguration token GetProfiles reports for ``video_source``."""
        try:
            return f"VSC_{self._video_sources.index(video_source) + 1}"
        except ValueError:
            raise ValueError(
                f"device {self.spec.id!r} has no video source {video_source!r}; it has {self._video_sources}"
            ) from None

    def restart(self) -> None:
        """A reboot: every pull point vanishes (its address now faults); property states survive."""
        for pull_point in self._pull_points.values():
            pull_point.close()
        self._pull_points.clear()
        self._cancel_ptz_moves()

    def _expire_pull_points(self) -> None:
        now = datetime.now(UTC)
        for key, pull_point in list(self._pull_points.items()):
            if now >= pull_point.termination:
                pull_point.close()
                del self._pull_points[key]

    # ---- events ----------------------------------------------------------------------------

    def fire(
        self,
        topic: str,
        source: dict[str, str],
        data: dict[str, str],
        *,
        operation: str = "Changed",
        utc_time: datetime | None = None,
        is_property: bool | None = None,
    ) -> None:
        """Queue one notification to every live pull point.

        Property topics (see :func:`is_property_topic`, or ``is_property=True``) are remembered
        per (topic, source items) and re-sent as "Initialized" on SetSynchronizationPoint and to
        new subscriptions; operation "Deleted" forgets the state. Non-property messages carry no
        PropertyOperation attribute.
        """
        if not topic:
            raise ValueError("topic must not be empty")
        prop = is_property_topic(topic) if is_property is None else is_property
        when = utc_time if utc_time is not None else self.device_now()
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        note = _Notification(
            topic=topic,
            source=tuple((str(k), str(v)) for k, v in source.items()),
            data=tuple((str(k), str(v)) for k, v in data.items()),
            utc_time=when,
            operation=operation if prop else None,
        )
        if prop:
            key = (topic, note.source)
            if operation == "Deleted":
                self._states.pop(key, None)
            else:
                self._states[key] = note
        self._expire_pull_points()
        for pull_point in self._pull_points.values():
            self._enqueue(pull_point, [note])

    def _enqueue(self, pull_point: _PullPoint, notes: Iterable[_Notification]) -> None:
        for note in notes:
            pull_point.queue.append(note)
            while len(pull_point.queue) > self.max_queued_messages:
                pull_point.queue.popleft()
        pull_point.wakeup.set()

    def _initialized_states(self) -> list[_Notification]:
        if self.quirks.initialized_now:
            now = self.device_now()
            return [
                dataclasses.replace(n, operation="Initialized", utc_time=now) for n in self._states.values()
            ]
        return [dataclasses.replace(note, operation="Initialized") for note in self._states.values()]

    def set_input(self, token: str, active: bool) -> None:
        self._require(token, self.spec.inputs, "digital input")
        self.fire("tns1:Device/Trigger/DigitalInput", {"InputToken": token}, {"LogicalState": _bool(active)})

    def set_relay(self, token: str, active: bool) -> None:
        self._require(token, self.spec.relays, "relay output")
        state = "active" if active else "inactive"
        self.fire("tns1:Device/Trigger/Relay", {"RelayToken": token}, {"LogicalState": state})

    def motion(self, video_source: str, on: bool) -> None:
        self._require(video_source, self._video_sources, "video source")
        self.fire("tns1:VideoSource/MotionAlarm", {"Source": video_source}, {"State": _bool(on)})

    def cell_motion(self, vsc_token: str, on: bool) -> None:
        vsc_tokens = [self.vsc_token(v) for v in self._video_sources]
        self._require(vsc_token, vsc_tokens, "video source configuration")
        source = {
            "VideoSourceConfigurationToken": vsc_token,
            "VideoAnalyticsConfigurationToken": "VideoAnalyticsToken",
            "Rule": "MyMotionDetectorRule",
        }
        self.fire("tns1:RuleEngine/CellMotionDetector/Motion", source, {"IsMotion": _bool(on)})

    def signal_loss(self, video_source: str, lost: bool) -> None:
        self._require(video_source, self._video_sources, "video source")
        self.fire("tns1:VideoSource/SignalLoss", {"Source": video_source}, {"State": _bool(lost)})

    def tamper(self, video_source: str, on: bool) -> None:
        self._require(video_source, self._video_sources, "video source")
        topic = "tns1:VideoSource/GlobalSceneChange/ImagingService"
        self.fire(topic, {"Source": video_source}, {"State": _bool(on)})

    def door_alarm(self, door: str, state: str) -> None:
        self._require(door, self.spec.doors, "door")
        self._require(state, sorted(DOOR_ALARM_STATES), "DoorAlarm state")
        self.fire("tns1:Door/State/DoorAlarm", {"DoorToken": door}, {"State": state})

    def door_physical(self, door: str, state: str) -> None:
        self._require(door, self.spec.doors, "door")
        self._require(state, sorted(DOOR_PHYSICAL_STATES), "DoorPhysicalState")
        self.fire("tns1:Door/State/DoorPhysicalState", {"DoorToken": door}, {"State": state})

    def access_granted(self, access_point: str, credential: str) -> None:
        self._require(access_point, self.spec.access_points, "access point")
        self.fire(
            "tns1:AccessControl/AccessGranted/Credential",
            {"AccessPointToken": access_point},
            {"CredentialToken": credential},
        )

    def access_denied(self, access_point: str, credential: str, reason: str) -> None:
        self._require(access_point, self.spec.access_points, "access point")
        self.fire(
            "tns1:AccessControl/Denied/Credential",
            {"AccessPointToken": access_point},
            {"CredentialToken": credential, "Reason": reason},
        )

    def _require(self, value: str, allowed: Iterable[str], what: str) -> None:
        allowed = list(allowed)
        if value not in allowed:
            raise ValueError(f"device {self.spec.id!r} has no {what} {value!r}; it has {allowed}")

    # ---- PTZ -------------------------------------------------------------------------------

    def _cancel_ptz_moves(self) -> None:
        for handle in self._ptz_timers.values():
            handle.cancel()
        self._ptz_timers.clear()
        for token in self.ptz_status:
            self.ptz_status[token] = "IDLE"

    def _finish_move(self, profile: str, preset: str) -> None:
        self._ptz_timers.pop(profile, None)
        self.ptz_status[profile] = "IDLE"
        self.ptz_preset[profile] = preset

    # ---- HTTP wiring -----------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        app = web.Application()
        for key, (_, path, _) in _SERVICES.items():
            app.router.add_post(path, self._soap_endpoint(key))
        app.router.add_post(SUBSCRIPTION_PATH, self._soap_endpoint("subscription"))
        app.router.add_get("/media/{name}", self._media)
        app.router.add_get("/snapshot/{name}", self._snapshot)
        app.router.add_post("/control/fire", self._control_fire)
        app.router.add_post("/control/input", self._control_input)
        app.router.add_post("/control/restart", self._control_restart)
        app.router.add_post("/control/clock", self._control_clock)
        app.router.add_post("/control/quirks", self._control_quirks)
        app.router.add_get("/control/state", self._control_state)
        return app

    def _build_handlers(self) -> dict[str, dict[str, _Handler]]:
        return {
            "device": {
                "GetSystemDateAndTime": self._get_system_date_and_time,
                "GetServices": self._get_services,
                "GetCapabilities": self._get_capabilities,
                "GetServiceCapabilities": self._service_capabilities_op("device"),
                "GetDeviceInformation": self._get_device_information,
                "GetHostname": self._get_hostname,
                "GetWsdlUrl": self._get_wsdl_url,
                "GetNetworkInterfaces": self._get_network_interfaces,
                "GetRelayOutputs": self._get_relay_outputs,
                "SetRelayOutputState": self._set_relay_output_state,
            },
            "media": {
                "GetServiceCapabilities": self._service_capabilities_op("media"),
                "GetProfiles": self._get_profiles,
                "GetProfile": self._get_profile,
                "GetVideoSources": self._get_video_sources,
                "GetStreamUri": self._get_stream_uri,
                "GetSnapshotUri": self._get_snapshot_uri,
            },
            "ptz": {
                "GetServiceCapabilities": self._service_capabilities_op("ptz"),
                "GetPresets": self._get_presets,
                "GotoPreset": self._goto_preset,
                "GetStatus": self._get_status,
                "Stop": self._stop_ptz,
            },
            "deviceio": {
                "GetServiceCapabilities": self._service_capabilities_op("deviceio"),
                "GetDigitalInputs": self._get_digital_inputs,
                "GetRelayOutputs": self._get_relay_outputs,
                "SetRelayOutputState": self._set_relay_output_state,
            },
            "imaging": {
                "GetServiceCapabilities": self._service_capabilities_op("imaging"),
            },
            "events": {
                "GetServiceCapabilities": self._service_capabilities_op("events"),
                "GetEventProperties": self._get_event_properties,
                "CreatePullPointSubscription": self._create_pull_point_subscription,
            },
            "subscription": {
                "PullMessages": self._pull_messages,
                "SetSynchronizationPoint": self._set_synchronization_point,
                "Renew": self._renew,
                "Unsubscribe": self._unsubscribe,
            },
        }

    def _soap_endpoint(self, service: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def endpoint(request: web.Request) -> web.StreamResponse:
            return await self._handle_soap(service, request)

        return endpoint

    async def _handle_soap(self, service: str, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        if self.quirks.delay_seconds > 0:
            await asyncio.sleep(self.quirks.delay_seconds)
        operation = "?"
        action: str | None = None
        relates_to: str | None = None
        try:
            envelope = self._parse_envelope(raw)
            relates_to = _text(envelope, "Header", "MessageID")
            body = _child(envelope, "Body")
            op_elem = next(iter(body), None) if body is not None else None
            if op_elem is None:
                raise _SoapFault("s:Sender", ("ter:InvalidArgVal",), "SOAP Body has no operation element")
            operation = _local(op_elem.tag)
            self.counters[operation] = self.counters.get(operation, 0) + 1
            action = _RESPONSE_ACTIONS.get((service, operation))
            if self.quirks.http_500:
                raise _SoapFault("s:Receiver", (), "Internal server error (emulated http_500 quirk)")
            handler = self._handlers[service].get(operation)
            if handler is None:
                raise _SoapFault(
                    "s:Receiver",
                    ("ter:ActionNotSupported",),
                    f"{operation} is not supported by the {service} service of this device",
                )
            if operation not in PRE_AUTH_OPERATIONS and not self._authorized(envelope):
                raise _not_authorized()
            call = _Call(service, operation, op_elem, f"{request.scheme}://{request.host}", request.query)
            result = await handler(call)
            status = 200
            if isinstance(result, bytes):
                payload = result
            else:
                payload = _serialize(_envelope(result, action=action, relates_to=relates_to)).encode()
        except _SoapFault as fault:
            if self.quirks.http_500 and fault.status != 500:
                # Even a request we could not parse gets the quirk's answer.
                fault = _SoapFault("s:Receiver", (), "Internal server error (emulated http_500 quirk)")
            log.debug("ONVIF emulator %s: %s -> fault %s", self.spec.id, operation, fault.reason)
            status = fault.status
            fault_action = _FAULT_ACTION if action else None
            payload = _serialize(
                _envelope(fault.element(), action=fault_action, relates_to=relates_to)
            ).encode()
        if self.quirks.malformed_xml:
            payload = payload[: len(payload) // 2]
        return web.Response(status=status, body=payload, headers={"Content-Type": SOAP_CONTENT_TYPE})

    @staticmethod
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

    def _authorized(self, envelope: ET.Element) -> bool:
        if self.quirks.reject_all_auth:
            return False
        token = _child(envelope, "Header", "Security", "UsernameToken")
        username = _text(token, "Username")
        digest = _text(token, "Password")
        nonce = _text(token, "Nonce")
        created = _text(token, "Created")
        if not (username and digest and nonce and created) or username != self.username:
            return False
        try:
            nonce_raw = base64.b64decode(nonce, validate=True)
            created_at = _parse_datetime(created)
        except ValueError:
            return False
        skew = abs((created_at - self.device_now()).total_seconds())
        if skew > self.auth_window_seconds:
            return False
        expected = base64.b64encode(
            hashlib.sha1(nonce_raw + created.encode() + self.password.encode()).digest()
        ).decode()
        return hmac.compare_digest(expected, digest)

    # ---- device service --------------------------------------------------------------------

    async def _get_system_date_and_time(self, call: _Call) -> ET.Element:
        now = self.device_now()

        def date_time(tag: str) -> ET.Element:
            time = _el("tt:Time", _el("tt:Hour", str(now.hour)), _el("tt:Minute", str(now.minute)))
            time.append(_el("tt:Second", str(now.second)))
            date = _el("tt:Date", _el("tt:Year", str(now.year)), _el("tt:Month", str(now.month)))
            date.append(_el("tt:Day", str(now.day)))
            return _el(tag, time, date)

        value = _el(
            "tds:SystemDateAndTime",
            _el("tt:DateTimeType", "NTP"),
            _el("tt:DaylightSavings", "false"),
            _el("tt:TimeZone", _el("tt:TZ", "UTC0")),
            date_time("tt:UTCDateTime"),
            date_time("tt:LocalDateTime"),
        )
        return _el("tds:GetSystemDateAndTimeResponse", value)

    def _has_ptz(self) -> bool:
        return any(p.ptz for p in self.spec.profiles)

    def _xaddr(self, call: _Call, service: str) -> str:
        return call.base_url + _SERVICES[service][1]

    async def _get_services(self, call: _Call) -> ET.Element:
        include = (_text(call.body, "IncludeCapability") or "false").lower() in ("true", "1")
        response = _el("tds:GetServicesResponse")
        for key, (namespace, _, (major, minor)) in _SERVICES.items():
            if key == "ptz" and not self._has_ptz():
                continue
            capabilities = _el("tds:Capabilities", self._service_capabilities(key)) if include else None
            version = _el("tds:Version", _el("tt:Major", str(major)), _el("tt:Minor", str(minor)))
            service = _el(
                "tds:Service",
                _el("tds:Namespace", namespace),
                _el("tds:XAddr", self._xaddr(call, key)),
                capabilities,
                version,
            )
            response.append(service)
        return response

    async def _get_capabilities(self, call: _Call) -> ET.Element:
        wanted = {c.text.strip() for c in _children(call.body, "Category") if c.text} or {"All"}
        supported = {"All", "Device", "Events", "Imaging", "Media"} | ({"PTZ"} if self._has_ptz() else set())
        missing = sorted(wanted - supported)
        if missing:
            raise _SoapFault(
                "s:Receiver",
                ("ter:ActionNotSupported", "ter:NoSuchService"),
                f"no such capability category: {', '.join(missing)}",
            )

        def want(category: str) -> bool:
            return "All" in wanted or category in wanted

        caps = _el("tds:Capabilities")
        if want("Device"):
            io = _el(
                "tt:IO",
                _el("tt:InputConnectors", str(len(self.spec.inputs))),
                _el("tt:RelayOutputs", str(len(self.spec.relays))),
            )
            caps.append(_el("tt:Device", _el("tt:XAddr", self._xaddr(call, "device")), io))
        if want("Events"):
            events = _el(
                "tt:Events",
                _el("tt:XAddr", self._xaddr(call, "events")),
                _el("tt:WSSubscriptionPolicySupport", "false"),
                _el("tt:WSPullPointSupport", "true"),
                _el("tt:WSPausableSubscriptionManagerInterfaceSupport", "false"),
            )
            caps.append(events)
        if want("Imaging"):
            caps.append(_el("tt:Imaging", _el("tt:XAddr", self._xaddr(call, "imaging"))))
        if want("Media"):
            streaming = _el(
                "tt:StreamingCapabilities",
                _el("tt:RTPMulticast", "false"),
                _el("tt:RTP_TCP", "true"),
                _el("tt:RTP_RTSP_TCP", "true"),
            )
            caps.append(_el("tt:Media", _el("tt:XAddr", self._xaddr(call, "media")), streaming))
        if want("PTZ") and self._has_ptz():
            caps.append(_el("tt:PTZ", _el("tt:XAddr", self._xaddr(call, "ptz"))))
        return _el("tds:GetCapabilitiesResponse", caps)

    def _service_capabilities(self, service: str) -> ET.Element:
        if service == "device":
            return _el(
                "tds:Capabilities",
                _el("tds:Network", attrs={"IPFilter": "false", "ZeroConfiguration": "false"}),
                _el("tds:Security", attrs={"UsernameToken": "true", "HttpDigest": "false"}),
                _el("tds:System", attrs={"DiscoveryResolve": "false", "SystemLogging": "false"}),
            )
        if service == "media":
            return _el(
                "trt:Capabilities",
                _el(
                    "trt:ProfileCapabilities", attrs={"MaximumNumberOfProfiles": str(len(self.spec.profiles))}
                ),
                _el("trt:StreamingCapabilities", attrs={"RTP_TCP": "true", "RTP_RTSP_TCP": "true"}),
                attrs={
                    "SnapshotUri": "true",
                    "Rotation": "false",
                    "VideoSourceMode": "false",
                    "OSD": "false",
                },
            )
        if service == "ptz":
            return _el(
                "tptz:Capabilities", attrs={"EFlip": "false", "Reverse": "false", "MoveStatus": "true"}
            )
        if service == "deviceio":
            attrs = {
                "VideoSources": str(len(self._video_sources)),
                "VideoOutputs": "0",
                "AudioSources": "0",
                "AudioOutputs": "0",
                "RelayOutputs": str(len(self.spec.relays)),
                "DigitalInputs": str(len(self.spec.inputs)),
                "SerialPorts": "0",
            }
            return _el("tmd:Capabilities", attrs=attrs)
        if service == "imaging":
            return _el("timg:Capabilities", attrs={"ImageStabilization": "false"})
        return _el(
            "tev:Capabilities",
            attrs={
                "WSSubscriptionPolicySupport": "false",
                "WSPullPointSupport": "true",
                "WSPausableSubscriptionManagerInterfaceSupport": "false",
                "MaxNotificationProducers": "0",
                "MaxPullPoints": str(self.quirks.max_pull_points),
                "PersistentNotificationStorage": "false",
            },
        )

    def _service_capabilities_op(self, service: str) -> _Handler:
        prefix = self._service_capabilities(service).tag.split(":")[0]

        async def handler(call: _Call) -> ET.Element:
            return _el(f"{prefix}:GetServiceCapabilitiesResponse", self._service_capabilities(service))

        return handler

    async def _get_device_information(self, call: _Call) -> ET.Element:
        spec = self.spec
        return _el(
            "tds:GetDeviceInformationResponse",
            _el("tds:Manufacturer", spec.manufacturer),
            _el("tds:Model", spec.model),
            _el("tds:FirmwareVersion", spec.firmware),
            _el("tds:SerialNumber", spec.serial),
            _el("tds:HardwareId", f"{spec.model}-{spec.id}"),
        )

    async def _get_hostname(self, call: _Call) -> ET.Element:
        info = _el("tds:HostnameInformation", _el("tt:FromDHCP", "false"), _el("tt:Name", self.spec.id))
        return _el("tds:GetHostnameResponse", info)

    async def _get_wsdl_url(self, call: _Call) -> ET.Element:
        return _el("tds:GetWsdlUrlResponse", _el("tds:WsdlUrl", "http://www.onvif.org/"))

    async def _get_network_interfaces(self, call: _Call) -> ET.Element:
        # Home Assistant tolerates exactly this: a fault whose text says "not implemented".
        raise _SoapFault(
            "s:Receiver",
            ("ter:ActionNotSupported",),
            "GetNetworkInterfaces is not implemented by this device",
        )

    async def _get_relay_outputs(self, call: _Call) -> ET.Element:
        response = _el("tds:GetRelayOutputsResponse")
        for token in self.spec.relays:
            settings = _el(
                "tt:Properties",
                _el("tt:Mode", "Bistable"),
                _el("tt:DelayTime", "PT0S"),
                _el("tt:IdleState", "open"),
            )
            response.append(_el("tds:RelayOutputs", settings, attrs={"token": token}))
        return response

    async def _set_relay_output_state(self, call: _Call) -> ET.Element:
        token = _text(call.body, "RelayOutputToken") or ""
        state = _text(call.body, "LogicalState") or ""
        if token not in self.spec.relays:
            raise _invalid_arg("ter:RelayToken", f"unknown relay output {token!r}")
        if state not in ("active", "inactive"):
            raise _invalid_arg("ter:ModeError", f"LogicalState must be active or inactive, got {state!r}")
        self.set_relay(token, state == "active")
        return _el("tds:SetRelayOutputStateResponse")

    # ---- media service ---------------------------------------------------------------------

    def _profile(self, call: _Call, *, ptz: bool = False) -> ProfileSpec:
        token = _text(call.body, "ProfileToken") or ""
        profile = self._profiles.get(token)
        if profile is None:
            raise _invalid_arg("ter:NoProfile", f"no media profile {token!r}")
        if ptz and not profile.ptz:
            raise _SoapFault(
                "s:Receiver",
                ("ter:ActionNotSupported", "ter:PTZNotSupported"),
                f"profile {token!r} has no PTZ",
            )
        return profile

    def _profile_element(self, tag: str, profile: ProfileSpec) -> ET.Element:
        index = self.spec.profiles.index(profile) + 1
        vsc = self.vsc_token(profile.video_source)
        users = sum(1 for p in self.spec.profiles if p.video_source == profile.video_source)
        width, height = _RESOLUTION
        source_config = _el(
            "tt:VideoSourceConfiguration",
            _el("tt:Name", vsc),
            _el("tt:UseCount", str(users)),
            _el("tt:SourceToken", profile.video_source),
            _el("tt:Bounds", attrs={"x": "0", "y": "0", "width": str(width), "height": str(height)}),
            attrs={"token": vsc},
        )
        multicast = _el(
            "tt:Multicast",
            _el("tt:Address", _el("tt:Type", "IPv4"), _el("tt:IPv4Address", "0.0.0.0")),
            _el("tt:Port", "0"),
            _el("tt:TTL", "1"),
            _el("tt:AutoStart", "false"),
        )
        encoder = _el(
            "tt:VideoEncoderConfiguration",
            _el("tt:Name", f"VEC_{index}"),
            _el("tt:UseCount", "1"),
            _el("tt:Encoding", "H264"),
            _el("tt:Resolution", _el("tt:Width", str(width)), _el("tt:Height", str(height))),
            _el("tt:Quality", "5"),
            _el(
                "tt:RateControl",
                _el("tt:FrameRateLimit", "25"),
                _el("tt:EncodingInterval", "1"),
                _el("tt:BitrateLimit", "4096"),
            ),
            _el("tt:H264", _el("tt:GovLength", "50"), _el("tt:H264Profile", "Main")),
            multicast,
            _el("tt:SessionTimeout", "PT60S"),
            attrs={"token": f"VEC_{index}"},
        )
        ptz = None
        if profile.ptz:
            ptz = _el(
                "tt:PTZConfiguration",
                _el("tt:Name", f"PTZ_{index}"),
                _el("tt:UseCount", "1"),
                _el("tt:NodeToken", "PTZNode_1"),
                attrs={"token": f"PTZ_{index}"},
            )
        return _el(
            tag,
            _el("tt:Name", profile.token),
            source_config,
            encoder,
            ptz,
            attrs={"token": profile.token, "fixed": "true"},
        )

    async def _get_profiles(self, call: _Call) -> ET.Element:
        profiles = (self._profile_element("trt:Profiles", p) for p in self.spec.profiles)
        return _el("trt:GetProfilesResponse", *profiles)

    async def _get_profile(self, call: _Call) -> ET.Element:
        return _el("trt:GetProfileResponse", self._profile_element("trt:Profile", self._profile(call)))

    async def _get_video_sources(self, call: _Call) -> ET.Element:
        width, height = _RESOLUTION
        sources = (
            _el(
                "trt:VideoSources",
                _el("tt:Framerate", "25"),
                _el("tt:Resolution", _el("tt:Width", str(width)), _el("tt:Height", str(height))),
                attrs={"token": token},
            )
            for token in self._video_sources
        )
        return _el("trt:GetVideoSourcesResponse", *sources)

    @staticmethod
    def _media_uri(tag: str, uri: str) -> ET.Element:
        value = _el(
            "trt:MediaUri",
            _el("tt:Uri", uri),
            _el("tt:InvalidAfterConnect", "false"),
            _el("tt:InvalidAfterReboot", "false"),
            _el("tt:Timeout", "PT0S"),
        )
        return _el(tag, value)

    async def _get_stream_uri(self, call: _Call) -> ET.Element:
        profile = self._profile(call)
        return self._media_uri("trt:GetStreamUriResponse", f"{call.base_url}/media/{profile.token}.mp4")

    async def _get_snapshot_uri(self, call: _Call) -> ET.Element:
        profile = self._profile(call)
        return self._media_uri("trt:GetSnapshotUriResponse", f"{call.base_url}/snapshot/{profile.token}.jpg")

    # ---- PTZ service -----------------------------------------------------------------------

    async def _get_presets(self, call: _Call) -> ET.Element:
        profile = self._profile(call, ptz=True)
        presets = (
            _el("tptz:Preset", _el("tt:Name", name), attrs={"token": token})
            for token, name in profile.presets.items()
        )
        return _el("tptz:GetPresetsResponse", *presets)

    async def _goto_preset(self, call: _Call) -> ET.Element:
        profile = self._profile(call, ptz=True)
        preset = _text(call.body, "PresetToken") or ""
        if preset not in profile.presets:
            raise _invalid_arg("ter:NoToken", f"profile {profile.token!r} has no preset {preset!r}")
        self.goto_calls.append((profile.token, preset))
        self.goto_received_at.append(datetime.now(UTC))
        self.ptz_status[profile.token] = "MOVING"
        previous = self._ptz_timers.pop(profile.token, None)
        if previous is not None:
            previous.cancel()
        loop = asyncio.get_running_loop()
        self._ptz_timers[profile.token] = loop.call_later(
            self.ptz_move_seconds, self._finish_move, profile.token, preset
        )
        return _el("tptz:GotoPresetResponse")

    async def _get_status(self, call: _Call) -> ET.Element:
        profile = self._profile(call, ptz=True)
        state = self.ptz_status[profile.token]
        pan, tilt, zoom = preset_position(self.ptz_preset.get(profile.token))
        status = _el(
            "tptz:PTZStatus",
            _el(
                "tt:Position",
                _el("tt:PanTilt", attrs={"x": f"{pan:.4f}", "y": f"{tilt:.4f}"}),
                _el("tt:Zoom", attrs={"x": f"{zoom:.4f}"}),
            ),
            _el("tt:MoveStatus", _el("tt:PanTilt", state), _el("tt:Zoom", state)),
            _el("tt:UtcTime", _format_time(self.device_now())),
        )
        return _el("tptz:GetStatusResponse", status)

    async def _stop_ptz(self, call: _Call) -> ET.Element:
        profile = self._profile(call, ptz=True)
        handle = self._ptz_timers.pop(profile.token, None)
        if handle is not None:
            handle.cancel()
        self.ptz_status[profile.token] = "IDLE"
        return _el("tptz:StopResponse")

    # ---- DeviceIO service ------------------------------------------------------------------

    async def _get_digital_inputs(self, call: _Call) -> ET.Element:
        inputs = (_el("tmd:DigitalInputs", attrs={"token": token}) for token in self.spec.inputs)
        return _el("tmd:GetDigitalInputsResponse", *inputs)

    # ---- event service ---------------------------------------------------------------------

    async def _get_event_properties(self, call: _Call) -> ET.Element:
        features = {
            "video": True,
            "inputs": bool(self.spec.inputs),
            "relays": bool(self.spec.relays),
            "doors": bool(self.spec.doors),
            "access_points": bool(self.spec.access_points),
        }
        topics = [info for info in _TOPIC_CATALOG if features[info.needs]]
        return _el(
            "tev:GetEventPropertiesResponse",
            _el("tev:TopicNamespaceLocation", "http://www.onvif.org/onvif/ver10/topics/topicns.xml"),
            _el("wsnt:FixedTopicSet", "true"),
            _topic_set(topics),
            _el("wsnt:TopicExpressionDialect", CONCRETE_SET_DIALECT),
            _el("wsnt:TopicExpressionDialect", "http://docs.oasis-open.org/wsn/t-1/TopicExpression/Concrete"),
            _el(
                "tev:MessageContentFilterDialect",
                "http://www.onvif.org/ver10/tev/messageContentFilter/ItemFilter",
            ),
            _el("tev:MessageContentSchemaLocation", "http://www.onvif.org/onvif/ver10/schema/onvif.xsd"),
        )

    def _termination_from(self, value: str, *, initial: bool) -> datetime:
        """Real-clock termination for a relative duration or an absolute device-clock time."""
        fault = "UnacceptableInitialTerminationTimeFault" if initial else "UnacceptableTerminationTimeFault"
        subcode = f"wsntw:{fault}"
        now = datetime.now(UTC)
        try:
            if value.startswith("P"):
                termination = now + parse_duration(value)
            else:
                # Absolute times are on the device clock; keep expiry on the real one.
                termination = _parse_datetime(value) - self.clock_offset
        except ValueError as exc:
            raise _SoapFault("s:Sender", (subcode,), f"invalid termination time {value!r}: {exc}") from exc
        if termination <= now:
            raise _SoapFault("s:Sender", (subcode,), f"termination time {value!r} is not in the future")
        return termination

    async def _create_pull_point_subscription(self, call: _Call) -> ET.Element:
        requested = _text(call.body, "InitialTerminationTime")
        if not requested:
            if self.quirks.require_initial_termination_time:
                raise _SoapFault(
                    "s:Receiver",
                    (),
                    "CreatePullPointSubscription without InitialTerminationTime (emulated Tapo quirk)",
                    status=500,
                )
            termination = datetime.now(UTC) + timedelta(seconds=self.default_subscription_seconds)
        else:
            termination = self._termination_from(requested, initial=True)
        if self.live_subscriptions >= self.quirks.max_pull_points:
            raise _SoapFault(
                "s:Receiver",
                ("ter:Action", "ter:MaxPullPointsReached"),
                f"maximum number of pull points ({self.quirks.max_pull_points}) reached",
            )
        pull_point = _PullPoint(id=self._next_pull_point_id, termination=termination)
        self._next_pull_point_id += 1
        self._pull_points[pull_point.id] = pull_point
        self._enqueue(pull_point, self._initialized_states())
        address = f"{call.base_url}{SUBSCRIPTION_PATH}?id={pull_point.id}"
        return _el(
            "tev:CreatePullPointSubscriptionResponse",
            _el("tev:SubscriptionReference", _el("wsa:Address", address)),
            _el("wsnt:CurrentTime", _format_time(self.device_now())),
            _el("wsnt:TerminationTime", _format_time(termination + self.clock_offset)),
        )

    def _pull_point(self, call: _Call) -> _PullPoint:
        self._expire_pull_points()
        raw_id = call.query.get("id", "")
        pull_point = self._pull_points.get(int(raw_id)) if raw_id.isdigit() else None
        if pull_point is None:
            raise _resource_unknown(f"no subscription {raw_id!r} (unsubscribed, expired or lost in a reboot)")
        return pull_point

    async def _pull_messages(self, call: _Call) -> ET.Element | bytes:
        pull_point = self._pull_point(call)
        try:
            timeout = parse_duration(_text(call.body, "Timeout") or "")
            limit = max(1, int(_text(call.body, "MessageLimit") or "1"))
        except ValueError as exc:
            raise _invalid_arg("ter:InvalidArgs", f"bad PullMessages arguments: {exc}") from exc
        now = datetime.now(UTC)
        # Pulling keeps a pull point alive for at least the requested timeout (ONVIF Core).
        pull_point.termination = max(pull_point.termination, now + timeout)
        hostile = self.quirks.hostile_xml
        if hostile is not None:
            note = _Notification(
                "tns1:VideoSource/MotionAlarm",
                (("Source", self._video_sources[0]),),
                (("State", _PLACEHOLDER),),
                self.device_now(),
                "Changed",
            )
            response = self._pull_response(pull_point, [note])
            action = _RESPONSE_ACTIONS[("subscription", "PullMessages")]
            return _hostile_pull_response(hostile, _envelope(response, action=action))
        messages = await self._wait_for_messages(pull_point, timeout.total_seconds(), limit)
        return self._pull_response(pull_point, messages)

    async def _wait_for_messages(
        self, pull_point: _PullPoint, wait_seconds: float, limit: int
    ) -> list[_Notification]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        while True:
            if pull_point.closed:
                raise _resource_unknown("the subscription ended while PullMessages was waiting")
            if pull_point.queue and not self.quirks.pull_always_empty:
                count = min(limit, len(pull_point.queue))
                return [pull_point.queue.popleft() for _ in range(count)]
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            pull_point.wakeup.clear()
            self._parked_pulls += 1
            self._pull_parked.set()
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(pull_point.wakeup.wait(), remaining)
            finally:
                self._parked_pulls -= 1
                if not self._parked_pulls:
                    self._pull_parked.clear()

    def _pull_response(self, pull_point: _PullPoint, messages: list[_Notification]) -> ET.Element:
        return _el(
            "tev:PullMessagesResponse",
            _el("tev:CurrentTime", _format_time(self.device_now())),
            _el("tev:TerminationTime", _format_time(pull_point.termination + self.clock_offset)),
            *(note.element() for note in messages),
        )

    async def _set_synchronization_point(self, call: _Call) -> ET.Element:
        pull_point = self._pull_point(call)
        self._enqueue(pull_point, self._initialized_states())
        return _el("tev:SetSynchronizationPointResponse")

    async def _renew(self, call: _Call) -> ET.Element:
        pull_point = self._pull_point(call)
        if self.quirks.renew_fails:
            raise _SoapFault(
                "s:Receiver", ("ter:ActionNotSupported",), "Renew failed (emulated renew_fails quirk)"
            )
        requested = _text(call.body, "TerminationTime")
        if not requested:
            raise _SoapFault(
                "s:Sender", ("wsntw:UnacceptableTerminationTimeFault",), "Renew needs a TerminationTime"
            )
        pull_point.termination = self._termination_from(requested, initial=False)
        return _el(
            "wsnt:RenewResponse",
            _el("wsnt:TerminationTime", _format_time(pull_point.termination + self.clock_offset)),
            _el("wsnt:CurrentTime", _format_time(self.device_now())),
        )

    async def _unsubscribe(self, call: _Call) -> ET.Element:
        pull_point = self._pull_point(call)
        pull_point.close()
        del self._pull_points[pull_point.id]
        return _el("wsnt:UnsubscribeResponse")

    # ---- media over HTTP -------------------------------------------------------------------

    def _profile_from_name(self, request: web.Request, suffix: str) -> ProfileSpec:
        name = request.match_info["name"]
        profile = self._profiles.get(name.removesuffix(suffix)) if name.endswith(suffix) else None
        if profile is None:
            raise web.HTTPNotFound(
                text=f"device {self.spec.id!r} has no media profile for {name!r}; "
                f"profiles: {sorted(self._profiles)}\n"
            )
        return profile

    async def _media(self, request: web.Request) -> web.StreamResponse:
        profile = self._profile_from_name(request, ".mp4")
        if self.quirks.delay_seconds > 0:
            await asyncio.sleep(self.quirks.delay_seconds)
        clip = self.spec.clip
        if clip is None:
            raise web.HTTPNotFound(
                text=f"device {self.spec.id!r} has no video clip configured (DeviceSpec.clip is None), "
                f"so profile {profile.token!r} has nothing to stream\n"
            )
        if not clip.is_file():
            raise web.HTTPNotFound(text=f"device {self.spec.id!r}: clip file {str(clip)!r} does not exist\n")
        if "start" not in request.query and "end" not in request.query:
            return web.FileResponse(clip, headers={"Content-Type": "video/mp4"})
        # Edge-recording playback of a time window (as cameras with an SD card offer over HTTP):
        # the emulator's "recording" is its clip, looped to the window's length.
        try:
            start = _parse_datetime(request.query["start"])
            end = _parse_datetime(request.query["end"])
        except (KeyError, ValueError):
            raise web.HTTPBadRequest(
                text="playback needs start and end as ISO 8601 times with an offset\n"
            ) from None
        seconds = (end - start).total_seconds()
        if not 0 < seconds <= MAX_PLAYBACK_SECONDS:
            raise web.HTTPBadRequest(
                text=f"playback window must be 0-{MAX_PLAYBACK_SECONDS:.0f} s long, not {seconds:.0f} s\n"
            )
        self.playback_requests.append((profile.token, start, end))
        key = (str(clip), round(seconds * 1000))
        body = self._playback_cache.get(key)
        if body is None:
            body = await asyncio.to_thread(loop_clip, clip, seconds)
            self._playback_cache[key] = body
        return web.Response(body=body, content_type="video/mp4")

    async def _snapshot(self, request: web.Request) -> web.StreamResponse:
        profile = self._profile_from_name(request, ".jpg")
        if self.quirks.delay_seconds > 0:
            await asyncio.sleep(self.quirks.delay_seconds)
        image = self._snapshots.get(profile.token)
        if image is None:
            image = self._snapshots[profile.token] = _render_snapshot(f"{self.spec.id} {profile.token}")
        return web.Response(body=image, content_type="image/jpeg")

    # ---- control surface -------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        return {
            "device": self.spec.id,
            "live_subscriptions": self.live_subscriptions,
            "counters": dict(self.counters),
            "ptz_status": dict(self.ptz_status),
            "goto_calls": [list(call) for call in self.goto_calls],
            "clock_offset_seconds": self.clock_offset.total_seconds(),
            "quirks": dataclasses.asdict(self.quirks),
        }

    async def _control_fire(self, request: web.Request) -> web.Response:
        payload = await control_body(request)
        topic = payload.get("topic")
        source = payload.get("source", {})
        data = payload.get("data", {})
        operation = payload.get("operation", "Changed")
        is_property = payload.get("is_property")
        if not isinstance(topic, str) or not topic:
            raise control_error("'topic' must be a non-empty string")
        for name, items in (("source", source), ("data", data)):
            if not isinstance(items, dict) or not all(isinstance(v, str) for v in items.values()):
                raise control_error(f"'{name}' must be an object of string values")
        if not isinstance(operation, str):
            raise control_error("'operation' must be a string")
        if is_property is not None and not isinstance(is_property, bool):
            raise control_error("'is_property' must be true, false or null")
        count = payload.get("count", 1)
        limit = self.max_queued_messages
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= limit:
            raise control_error(f"'count' must be an integer from 1 to {self.max_queued_messages}")
        # A burst (benchmarks, load tests): each copy carries its own Seq so they are distinct events.
        for seq in range(count):
            items = data if count == 1 else {**data, "Seq": str(seq)}
            self.fire(topic, source, items, operation=operation, is_property=is_property)
        return web.json_response(self._state())

    async def _control_input(self, request: web.Request) -> web.Response:
        payload = await control_body(request)
        token, active = payload.get("token"), payload.get("active")
        if not isinstance(token, str) or not isinstance(active, bool):
            raise control_error("expected {'token': str, 'active': bool}")
        try:
            self.set_input(token, active)
        except ValueError as exc:
            raise control_error(str(exc)) from exc
        return web.json_response(self._state())

    async def _control_restart(self, request: web.Request) -> web.Response:
        self.restart()
        return web.json_response(self._state())

    async def _control_clock(self, request: web.Request) -> web.Response:
        payload = await control_body(request)
        offset = payload.get("offset_seconds")
        if isinstance(offset, bool) or not isinstance(offset, int | float):
            raise control_error("expected {'offset_seconds': number}")
        self.clock_offset = timedelta(seconds=offset)
        return web.json_response(self._state())

    async def _control_quirks(self, request: web.Request) -> web.Response:
        payload = await control_body(request)
        try:
            self.quirks.update(payload)
        except (TypeError, ValueError) as exc:
            raise control_error(str(exc)) from exc
        return web.json_response(self._state())

    async def _control_state(self, request: web.Request) -> web.Response:
        return web.json_response(self._state())


# --------------------------------------------------------------------------------------------
# A set of devices
# --------------------------------------------------------------------------------------------


class OnvifEmulator:
    """Several emulated devices, each on its own port; an async context manager.

    With ``base_port`` 0 every device gets an ephemeral port, otherwise device ``i`` listens on
    ``base_port + i``.
    """

    def __init__(
        self,
        devices: list[DeviceSpec],
        *,
        host: str = "127.0.0.1",
        base_port: int = 0,
        username: str = "admin",
        password: str = "admin",
    ) -> None:
        ids = [spec.id for spec in devices]
        if len(set(ids)) != len(ids):
            raise ValueError(f"device ids must be unique: {ids}")
        self.devices = [
            EmulatedDevice(
                spec,
                host=host,
                port=base_port + i if base_port else 0,
                username=username,
                password=password,
            )
            for i, spec in enumerate(devices)
        ]
        self._by_id = {device.spec.id: device for device in self.devices}

    def device(self, device_id: str) -> EmulatedDevice:
        try:
            return self._by_id[device_id]
        except KeyError:
            raise KeyError(f"no emulated device {device_id!r}; devices: {sorted(self._by_id)}") from None

    async def start(self) -> None:
        started: list[EmulatedDevice] = []
        try:
            for device in self.devices:
                await device.start()
                started.append(device)
        except BaseException:
            for device in reversed(started):
                await device.stop()
            raise

    async def stop(self) -> None:
        errors: list[Exception] = []
        for device in reversed(self.devices):
            try:
                await device.stop()
            except Exception as exc:  # keep stopping the others; re-raised together below
                errors.append(exc)
        if errors:
            raise ExceptionGroup("stopping the ONVIF emulator failed", errors)

    async def __aenter__(self) -> OnvifEmulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
