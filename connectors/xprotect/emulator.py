"""An XProtect API Gateway emulator: IDP tokens, RESTful Config/Events/Alarms/Bookmarks and the Events
and State WebSocket, all served by aiohttp on one port.

It is a standalone test peer for the XProtect connector, the benchmarks and a CLI command, so it
never imports ``vmsbridge``. Shapes follow the XProtect research notes (``xprotect.md``): the IDP
token endpoint, ``{"array": [...]}`` / ``{"data": {...}}`` REST envelopes, the
``error.httpCode/details[].errorText`` error shape, asynchronous tasks polled under ``/tasks``, and
``startSession`` / ``addSubscription`` / ``getState`` on ``/api/ws/events/v1`` with resumable sessions.

Events are injected with :meth:`XProtectEmulator.fire` (or its wrappers) in process, or through the
JSON control surface under ``/control/`` (no authentication). :class:`Quirks` makes the gateway
misbehave at run time. Everything runs on the event loop that started the emulator; call ``fire()``
and friends from that loop only.

Choices where the real API is not documented
--------------------------------------------
* **Event ids and order.** Event ids are random GUIDs; the emulator keeps the firing order itself.
  Resuming with an ``eventId`` replays every buffered event after it that matches the session's
  subscriptions; an empty or unknown ``eventId`` (never received anything, or evicted from the
  10 000-event buffer) replays the whole buffer. Replayed events arrive in frames of up to 100, live
  events one per frame.
* **Sessions.** Only a session whose socket has gone is resumable (a ``sessionId`` still attached to
  an open socket gets a new session, 201). A second ``startSession`` on the same socket detaches the
  first session, which stays resumable. ``addSubscription``, ``removeSubscription`` and ``getState``
  before ``startSession`` answer 400. ``addSubscription`` answers 200 (the Milestone sample says
  "200 indicates subscription was successfully created"); ``removeSubscription`` of an unknown id 404.
* **Filters.** ``modifier`` is case-insensitive (the JavaScript sample sends ``"Include"``) and
  defaults to include; a missing ``resourceTypes``/``sourceIds``/``eventTypes`` means ``["*"]``.
  Ids and types compare case-insensitively; ``sourceIds`` match the id part of the source path (or
  the whole path). Filters combine per subscription: an event matches a subscription when one of
  its include filters matches and none of its exclude filters does; a session receives an event
  when any of its subscriptions matches, once.
* **State.** Stateful types (motion, communication, recording, input, output) carry
  ``stategroupid``; ``getState`` returns the latest event per (source, state group), oldest first.
  At start every enabled camera is "Communication Started", "Motion Stopped" and "Recording
  Stopped", every enabled input "Input Deactivated" and every output "Output Deactivated"; these
  seeded states are not events (they are not in ``GET /events`` nor replayed).
* **WebSocket errors.** A text frame that is not a JSON object with a ``command`` string (or any
  binary frame) closes the socket with :data:`CLOSE_MALFORMED` (1007); a command other than
  ``authenticate`` on a socket that is not authenticated gets a 401 reply, then a close with
  :data:`CLOSE_UNAUTHORIZED` (1008). An unknown command name gets a 400 reply and the socket stays
  open. ``authenticate`` accepts ``"Bearer <token>"`` or the bare token.
* **Tokens.** Opaque random strings; ``expires_in`` is the lifetime rounded up to whole seconds.
  ``VmsClient`` also receives a ``refresh_token`` (``grant_type=refresh_token`` works);
  ``windows_credentials`` is answered ``unsupported_grant_type``. A missing or unknown bearer token
  is "Token validation failed: the token is invalid.", an expired one "... the token is expired.".
  :meth:`XProtectEmulator.expire_tokens` expires access tokens only, not refresh tokens. The IDP
  paths are matched case-insensitively.
* **Config REST.** ``name=`` (and any other field) filters accept the operators ``equals``
  (default), ``notEquals``, ``startsWith``, ``contains`` (case-insensitive), ``lt`` and ``gt``
  (numeric when both sides are numbers); a value may be quoted with ``'``. Items without an
  ``enabled`` field are always listed. Hardware, site, recording-server and storage fields are
  plausible constants; hardware is named ``EmuCam <n> (<address>)``. Event types have
  ``generatorType`` "Device" (built-in) or "External" (user-defined events, whose event type id is
  the UDE id); ``stateGroupId``/``state``/``counterEventID`` are ``""`` for stateless types.
  State-group and alarm-state GUIDs are invented; alarm-priority and event-type-group GUIDs come from
  the older Config REST spec. Creating or changing config items is not emulated.
* **Tasks.** ``GET /tasks/{n}`` reports ``InProgress`` (progress 50) until it has been polled
  :attr:`XProtectEmulator.task_polls_to_complete` times, then ``Success`` (progress 100) or, with
  the ``fail_tasks`` quirk, ``Error`` with ``errorText``. ``data.path`` names what the task acted on.
  Preset collections offer ``DefaultPtzPreset`` and ``GetDevicePresets`` (no effect), a preset
  ``Activate`` ("Go to preset"), an output ``Activate``/``Deactivate``/``Trigger`` (firing the output
  events). A POST without ``?task`` answers 400. ``TaskCleanup`` answers 200 ``{"result": {...}}``.
* **Events REST.** Any known event type may be triggered (the real server lets user tokens trigger
  only External and MIPDevice types). ``source`` may be a path or ``{"type", "id"}`` and must name
  an existing item; an optional ``data`` object is passed through. ``GET /events`` lists newest
  first; ``page`` defaults to 0 and ``size`` to 100 (also for ``/alarms``).
* **Alarms.** Alarm and event timestamps are ISO-8601 UTC with ``Z``. ``POST /alarms`` ``source``
  may be a camera id, ``cameras/<id>`` or ``{"type": "cameras", "id"}``; ``priority`` an id or a
  name (default High). ``PATCH`` accepts ``state``, ``priority``, ``comment``,
  ``assignedTo.displayName`` and ``reasonForClosing`` (null leaves a field alone); other keys
  answer 400. An alarm made by an alarm definition is named after the definition, its message is
  the event type's name, its source the first related camera (else the event's source camera).
* **Bookmarks.** ``reference`` defaults to ``no.<n>``; ``timeTriggered`` to ``timeBegin``;
  ``?task=...`` on ``/bookmarks`` answers 400.
* **Quirks.** ``malformed_json`` truncates event frames (live and replayed); command replies stay
  valid so a client can still open a session. ``delay_seconds`` delays REST and IDP responses, not
  the WebSocket. ``http_500`` applies after the token check.
* **Output event types.** "Output Activated" ``7a78f5bb-d8c3-4997-89b7-cae72713b7db`` and "Output
  Deactivated" ``35742498-bcc5-4f0a-9800-827c9388d1cd`` are the GUIDs in Milestone's
  ``EventsAndStateWebSocketApiPython/event_types.py``, not invented ones.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
import logging
import math
import re
import secrets
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType, TracebackType
from typing import Any, Final

from aiohttp import WSMsgType, web
from aiohttp.typedefs import Handler

from connectors.emulation import LoopbackServer, SwitchableQuirks, control_body, control_error

__all__ = [
    "CLOSE_MALFORMED",
    "CLOSE_UNAUTHORIZED",
    "COMMUNICATION_ERROR",
    "COMMUNICATION_STARTED",
    "COMMUNICATION_STATE_GROUP",
    "COMMUNICATION_STOPPED",
    "INPUT_ACTIVATED",
    "INPUT_DEACTIVATED",
    "INPUT_STATE_GROUP",
    "MOTION_STARTED",
    "MOTION_STATE_GROUP",
    "MOTION_STOPPED",
    "OUTPUT_ACTIVATED",
    "OUTPUT_DEACTIVATED",
    "OUTPUT_STATE_GROUP",
    "RECORDING_STARTED",
    "RECORDING_STATE_GROUP",
    "RECORDING_STOPPED",
    "AlarmDefinitionSpec",
    "CameraSpec",
    "InputSpec",
    "OutputSpec",
    "Quirks",
    "UserEventSpec",
    "XProtectEmulator",
    "XProtectSpec",
]

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# Well-known identifiers
# --------------------------------------------------------------------------------------------

MOTION_STARTED: Final = "6eb95dd6-7ccc-4bce-99f8-af0d0b582d77"
MOTION_STOPPED: Final = "6f55a7a7-d21c-4629-ac18-af1975e395a2"
COMMUNICATION_STARTED: Final = "dd3e6464-7dc0-405a-a92f-6150587563e8"
COMMUNICATION_STOPPED: Final = "0ee90664-2924-42a0-a816-4129d0ecabdc"
COMMUNICATION_ERROR: Final = "a334af1c-4b4b-4957-9e5f-ab8ca07feab6"
RECORDING_STARTED: Final = "4577f552-765a-438c-bc7d-e5ff1f754bc3"
RECORDING_STOPPED: Final = "79a94f89-92de-4fca-8a43-5561d407423d"
INPUT_ACTIVATED: Final = "836ca458-a833-4742-8ee0-64b2380984bd"
INPUT_DEACTIVATED: Final = "8666e3dc-57a7-4f38-9611-51d774ee7358"
OUTPUT_ACTIVATED: Final = "7a78f5bb-d8c3-4997-89b7-cae72713b7db"
OUTPUT_DEACTIVATED: Final = "35742498-bcc5-4f0a-9800-827c9388d1cd"

# State groups (invented ids; a real server lists its own under /stateGroups).
MOTION_STATE_GROUP: Final = "e8e09b3a-85d3-4e96-9876-474289368894"
COMMUNICATION_STATE_GROUP: Final = "6bd5a0ae-f79f-4b98-97f9-b589cfc07b7e"
RECORDING_STATE_GROUP: Final = "396d5cf2-7427-4ab7-ad37-83293d2ee428"
INPUT_STATE_GROUP: Final = "398dc5e9-0e4e-494d-aa47-75a0459880be"
OUTPUT_STATE_GROUP: Final = "28f76de5-b24a-46f4-8113-506f276d5648"

# Event type groups, as enumerated by the older Config REST spec.
_DEVICE_EVENTS_GROUP: Final = "1eacbcad-d566-4375-834b-cfbe3d937caa"
_EXTERNAL_EVENTS_GROUP: Final = "5946b6fa-44d9-4f4c-82bb-46a17b924265"
_EVENT_TYPE_GROUPS: Final = MappingProxyType(
    {_DEVICE_EVENTS_GROUP: "Device Events", _EXTERNAL_EVENTS_GROUP: "External Events"}
)

_STORAGE_ID: Final = "f6eb5abd-dfb9-467d-b2be-411841fe5d8f"
_HARDWARE_DRIVER_ID: Final = "647bd702-fae3-43d7-8645-d9f0e222ccd8"
_EMPTY_GUID: Final = "00000000-0000-0000-0000-000000000000"
_ID_NAMESPACE: Final = uuid.UUID("32659a1e-29fd-47c8-a211-d4dd53d3974a")

REST_PREFIX: Final = "/api/rest/v1"
WS_PATH: Final = "/api/ws/events/v1"
CLOSE_MALFORMED: Final = 1007
CLOSE_UNAUTHORIZED: Final = 1008
TOKEN_EXPIRED_TEXT: Final = "Token validation failed: the token is expired."
TOKEN_INVALID_TEXT: Final = "Token validation failed: the token is invalid."
_GRANT_CLIENTS: Final = frozenset({"GrantValidatorClient", "VmsClient"})
_IDP_TOKEN_RE: Final = re.compile(r"^/(?:api/)?idp/connect/token/?$", re.IGNORECASE)
_FILTER_RE: Final = re.compile(r"^(?P<op>lt|gt|equals|notEquals|startsWith|contains):(?P<value>.*)$")
# Query parameters with a meaning of their own; any other parameter filters on an item field.
_RESERVED_QUERY: Final = frozenset(
    {"disabled", "tasks", "noData", "resources", "definitions", "include", "page", "size", "task", "sort"}
)
_REPLAY_CHUNK: Final = 100


@dataclass(frozen=True)
class _Level:
    id: str
    name: str
    level: int

    def ref(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name}

    def item(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "level": self.level}


_ALARM_STATES: Final = (
    _Level("9c883b33-137b-40a1-9130-0bafe0f98f63", "New", 1),
    _Level("21f09e98-4f8c-472e-9df1-d27a567b5c0a", "In progress", 4),
    _Level("ca28160d-73c8-4ea2-bc26-1ccd42bcac5b", "On hold", 9),
    _Level("dea19e1c-93e5-43b0-b21e-dae7030b5386", "Closed", 11),
)
_ALARM_PRIORITIES: Final = (
    _Level("8188ff24-b5da-4c19-9ebf-c1d8fc2caa75", "High", 1),
    _Level("9ad9338b-22ba-4f2e-bf62-e6948ae99bbf", "Medium", 2),
    _Level("34f1f987-6854-44fb-88a5-daa0add1e38a", "Low", 3),
)
_PRIORITY_NAMES: Final = frozenset(p.name for p in _ALARM_PRIORITIES)


@dataclass(frozen=True)
class _EventType:
    id: str
    name: str
    group: str
    generator_type: str
    generator_subtype: str
    source_array: tuple[str, ...]
    state_group: str = ""
    state: str = ""
    counter: str = ""
    built_in: bool = True


# Stateful device event types: (state group id, state group name, generator subtype, sourceArray,
# rows of (event type id, name, state, counter event type id)).
_DEVICE_EVENT_TABLE: Final = (
    (
        MOTION_STATE_GROUP,
        "Motion",
        "Camera",
        ("Camera",),
        (
            (MOTION_STARTED, "Motion Started", "Motion", MOTION_STOPPED),
            (MOTION_STOPPED, "Motion Stopped", "No Motion", MOTION_STARTED),
        ),
    ),
    (
        COMMUNICATION_STATE_GROUP,
        "Communication",
        "Device",
        ("Camera", "InputEvent", "Output"),
        (
            (COMMUNICATION_STARTED, "Communication Started", "Responding", COMMUNICATION_STOPPED),
            (COMMUNICATION_STOPPED, "Communication Stopped", "Not Responding", COMMUNICATION_STARTED),
            (COMMUNICATION_ERROR, "Communication Error", "Communication Error", COMMUNICATION_STARTED),
        ),
    ),
    (
        RECORDING_STATE_GROUP,
        "Recording",
        "Camera",
        ("Camera",),
        (
            (RECORDING_STARTED, "Recording Started", "Recording", RECORDING_STOPPED),
            (RECORDING_STOPPED, "Recording Stopped", "Not Recording", RECORDING_STARTED),
        ),
    ),
    (
        INPUT_STATE_GROUP,
        "Input",
        "InputEvent",
        ("InputEvent",),
        (
            (INPUT_ACTIVATED, "Input Activated", "Activated", INPUT_DEACTIVATED),
            (INPUT_DEACTIVATED, "Input Deactivated", "Deactivated", INPUT_ACTIVATED),
        ),
    ),
    (
        OUTPUT_STATE_GROUP,
        "Output",
        "Output",
        ("Output",),
        (
            (OUTPUT_ACTIVATED, "Output Activated", "Activated", OUTPUT_DEACTIVATED),
            (OUTPUT_DEACTIVATED, "Output Deactivated", "Deactivated", OUTPUT_ACTIVATED),
        ),
    ),
)
_BUILT_IN_EVENT_TYPES: Final = tuple(
    _EventType(type_id, name, _DEVICE_EVENTS_GROUP, "Device", subtype, sources, group, state, counter)
    for group, _, subtype, sources, rows in _DEVICE_EVENT_TABLE
    for type_id, name, state, counter in rows
)
# Which child collections exist under which parent, e.g. hardware/{id}/cameras.
_CHILD_KINDS: Final = MappingProxyType(
    {
        "sites": frozenset({"recordingServers"}),
        "recordingServers": frozenset({"hardware"}),
        "hardware": frozenset({"cameras", "inputEvents", "outputs"}),
        "cameras": frozenset({"ptzPresets"}),
    }
)
# Source kinds an event, alarm definition or bookmark may refer to.
_SOURCE_KINDS: Final = ("cameras", "inputEvents", "outputs", "hardware", "userDefinedEvents")
_COUNTER_NAMES: Final = (
    "token",
    "token_rejected",
    "rest",
    "401",
    "ws_connect",
    "authenticate",
    "startSession",
    "addSubscription",
    "removeSubscription",
    "getState",
    "tasks",
    "events",
    "alarms",
)


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


def _require_text(owner: str, **values: str) -> None:
    for name, value in values.items():
        if not isinstance(value, str) or not value:
            raise ValueError(f"{owner} needs a non-empty {name}, got {value!r}")


@dataclass
class CameraSpec:
    """One camera; ``ptz_presets`` maps preset id to name."""

    id: str
    name: str
    hardware_id: str
    enabled: bool = True
    ptz_presets: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _require_text("CameraSpec", id=self.id, name=self.name, hardware_id=self.hardware_id)


@dataclass
class InputSpec:
    """One digital input (REST ``inputEvents``)."""

    id: str
    name: str
    hardware_id: str
    enabled: bool = True

    def __post_init__(self) -> None:
        _require_text("InputSpec", id=self.id, name=self.name, hardware_id=self.hardware_id)


@dataclass
class OutputSpec:
    """One output (relay)."""

    id: str
    name: str
    hardware_id: str

    def __post_init__(self) -> None:
        _require_text("OutputSpec", id=self.id, name=self.name, hardware_id=self.hardware_id)


@dataclass
class UserEventSpec:
    """One user-defined event; its id is also its event type id."""

    id: str
    name: str

    def __post_init__(self) -> None:
        _require_text("UserEventSpec", id=self.id, name=self.name)


@dataclass
class AlarmDefinitionSpec:
    """An alarm definition: ``event_type`` from a source in ``source_ids`` raises an alarm."""

    id: str
    name: str
    event_type: str
    source_ids: list[str]
    related_cameras: list[str]
    priority: str = "High"

    def __post_init__(self) -> None:
        _require_text("AlarmDefinitionSpec", id=self.id, name=self.name, event_type=self.event_type)
        if self.priority not in _PRIORITY_NAMES:
            raise ValueError(
                f"alarm definition {self.id!r}: priority must be one of {sorted(_PRIORITY_NAMES)}, "
                f"got {self.priority!r}"
            )


@dataclass
class XProtectSpec:
    """What the emulated site has. Hardware is derived: one item per distinct ``hardware_id``, all
    on a single recording server of the single site."""

    cameras: list[CameraSpec]
    inputs: list[InputSpec] = field(default_factory=list)
    outputs: list[OutputSpec] = field(default_factory=list)
    user_defined_events: list[UserEventSpec] = field(default_factory=list)
    alarm_definitions: list[AlarmDefinitionSpec] = field(default_factory=list)
    version: str = "24.2.0"
    site_name: str = "Emulated site"

    def __post_init__(self) -> None:
        device_ids = [
            *(c.id for c in self.cameras),
            *(i.id for i in self.inputs),
            *(o.id for o in self.outputs),
            *(u.id for u in self.user_defined_events),
            *self.hardware_ids(),
        ]
        duplicates = sorted({i for i in device_ids if device_ids.count(i) > 1})
        if duplicates:
            raise ValueError(
                f"ids must be unique across cameras, inputs, outputs, user-defined events and "
                f"hardware: {duplicates}"
            )
        definition_ids = [d.id for d in self.alarm_definitions]
        if len(set(definition_ids)) != len(definition_ids):
            raise ValueError(f"alarm definition ids must be unique: {definition_ids}")
        known = set(device_ids)
        cameras = {c.id for c in self.cameras}
        for definition in self.alarm_definitions:
            unknown = sorted(set(definition.source_ids) - known)
            if unknown:
                raise ValueError(f"alarm definition {definition.id!r} names unknown sources {unknown}")
            unknown = sorted(set(definition.related_cameras) - cameras)
            if unknown:
                raise ValueError(f"alarm definition {definition.id!r} names unknown cameras {unknown}")
        for camera in self.cameras:
            for preset_id, name in camera.ptz_presets.items():
                _require_text(f"preset of camera {camera.id!r}", id=preset_id, name=name)

    def hardware_ids(self) -> list[str]:
        """Distinct hardware ids in order of first appearance (cameras, inputs, outputs)."""
        ids = [c.hardware_id for c in self.cameras] + [i.hardware_id for i in self.inputs]
        ids += [o.hardware_id for o in self.outputs]
        return list(dict.fromkeys(ids))


@dataclass
class Quirks(SwitchableQuirks):
    """Real-world misbehaviour, all off by default; tests flip fields at run time."""

    delay_seconds: float = 0.0
    fail_tasks: bool = False
    http_500: bool = False
    malformed_json: bool = False

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "delay_seconds":
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise ValueError(f"delay_seconds must be a number >= 0, got {value!r}")
                self.delay_seconds = float(value)
            elif not isinstance(value, bool):
                raise ValueError(f"{f.name} must be a bool, got {value!r}")


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _iso(when: datetime) -> str:
    when = when.astimezone(UTC)
    spec = "milliseconds" if when.microsecond else "seconds"
    return when.isoformat(timespec=spec).replace("+00:00", "Z")


def _parse_time(value: Any, what: str) -> datetime:
    if not isinstance(value, str):
        raise _RestError(400, f"{what} must be an ISO-8601 string", prop=what)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _RestError(400, f"{what} is not an ISO-8601 time: {value!r}", prop=what) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _ref(kind: str, item_id: str) -> dict[str, str]:
    return {"type": kind, "id": item_id}


def _split_source(source: str) -> tuple[str, str]:
    """(resource type, id) of a source path such as ``cameras/<id>``."""
    kind, _, rest = source.partition("/")
    return kind, rest.rsplit("/", 1)[-1]


class _RestError(Exception):
    """Raised by a REST handler; rendered in the gateway's error shape."""

    def __init__(
        self, status: int, text: str, *, text_id: str | None = None, prop: str | None = None
    ) -> None:
        super().__init__(text)
        self.status = status
        self.text = text
        self.text_id = text_id
        self.prop = prop

    def body(self) -> dict[str, Any]:
        detail: dict[str, Any] = {"errorText": self.text}
        if self.text_id is not None:
            detail["errorTextId"] = self.text_id
        if self.prop is not None:
            detail["property"] = self.prop
        return {"error": {"httpCode": self.status, "details": [detail]}}


def _not_found(kind: str, item_id: str) -> _RestError:
    return _RestError(404, f"Device not found. {kind}/{item_id}", text_id="VMO61008")


def _compare(op: str, actual: Any, wanted: str) -> bool:
    if isinstance(actual, bool):
        text = "true" if actual else "false"
    elif actual is None:
        text = ""
    else:
        text = str(actual)
    if op in ("lt", "gt"):
        try:
            left, right = float(text), float(wanted)
        except ValueError:
            return text < wanted if op == "lt" else text > wanted
        return left < right if op == "lt" else left > right
    folded, target = text.casefold(), wanted.casefold()
    if op == "contains":
        return target in folded
    if op == "startsWith":
        return folded.startswith(target)
    if op == "notEquals":
        return folded != target
    return folded == target


def _field_filter(name: str, raw: str) -> Callable[[Mapping[str, Any]], bool]:
    match = _FILTER_RE.match(raw)
    op, value = (match["op"], match["value"]) if match else ("equals", raw)
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]

    def check(item: Mapping[str, Any]) -> bool:
        return name in item and _compare(op, item[name], value)

    return check


def _paging(query: Mapping[str, str]) -> tuple[int, int]:
    try:
        page = int(query.get("page", "0"))
        size = int(query.get("size", "100"))
    except ValueError:
        raise _RestError(400, "page and size must be integers") from None
    if page < 0 or not 1 <= size <= 1000:
        raise _RestError(400, "page must be >= 0 and size from 1 to 1000")
    return page, size


# --------------------------------------------------------------------------------------------
# Sessions, sockets, tasks
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Fired:
    seq: int
    event: dict[str, Any]


@dataclass(frozen=True)
class _Filter:
    include: bool
    resource_types: frozenset[str] | None  # None: "*"
    source_ids: frozenset[str] | None
    event_types: frozenset[str] | None

    @classmethod
    def parse(cls, raw: Any) -> _Filter:
        if not isinstance(raw, dict):
            raise ValueError("each filter must be a JSON object")
        modifier = raw.get("modifier", "include")
        if not isinstance(modifier, str) or modifier.lower() not in ("include", "exclude"):
            raise ValueError(f"modifier must be 'include' or 'exclude', got {modifier!r}")

        def values(key: str) -> frozenset[str] | None:
            value = raw.get(key, ["*"])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{key} must be a list of strings or ['*']")
            return None if "*" in value else frozenset(v.lower() for v in value)

        return cls(
            include=modifier.lower() == "include",
            resource_types=values("resourceTypes"),
            source_ids=values("sourceIds"),
            event_types=values("eventTypes"),
        )

    def matches(self, event: Mapping[str, Any]) -> bool:
        source = str(event["source"]).lower()
        kind, source_id = _split_source(source)
        return (
            (self.resource_types is None or kind in self.resource_types)
            and (self.source_ids is None or source_id in self.source_ids or source in self.source_ids)
            and (self.event_types is None or str(event["type"]).lower() in self.event_types)
        )


@dataclass(eq=False)
class _Socket:
    ws: web.WebSocketResponse
    transport: asyncio.Transport | None
    authenticated: bool
    session: _Session | None = None
    outbox: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    closing: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def send(self, frame: str) -> None:
        if not self.closing:
            self.outbox.put_nowait(frame)


@dataclass(eq=False)
class _Session:
    id: str
    buffer: deque[_Fired]
    subscriptions: dict[str, tuple[_Filter, ...]] = field(default_factory=dict)
    socket: _Socket | None = None
    disconnected_at: float | None = None  # time.monotonic() when its socket went away

    def matches(self, event: Mapping[str, Any]) -> bool:
        for filters in self.subscriptions.values():
            if any(f.include and f.matches(event) for f in filters) and not any(
                not f.include and f.matches(event) for f in filters
            ):
                return True
        return False


@dataclass(eq=False)
class _Task:
    id: int
    name: str
    target: dict[str, str]
    action: Callable[[], None] | None
    polls: int = 0
    state: str = "Idle"
    error: str | None = None

    def data(self) -> dict[str, Any]:
        progress = {"Idle": 0, "InProgress": 50}.get(self.state, 100)
        data: dict[str, Any] = {
            "id": str(self.id),
            "displayName": self.name,
            "state": self.state,
            "progress": progress,
            "path": dict(self.target),
            "relations": {"self": _ref("tasks", str(self.id))},
        }
        if self.error is not None:
            data["errorText"] = self.error
        return data


# --------------------------------------------------------------------------------------------
# The emulator
# --------------------------------------------------------------------------------------------


class XProtectEmulator:
    """One emulated XProtect API Gateway (with its IDP) on one port; an async context manager.

    Public state (``counters``, ``alarms``, ``ptz_gotos``, ``bookmarks``, ``triggered_events``,
    ``quirks``, ``token_lifetime_seconds``, ``resume_window_seconds``) may be read and changed by
    tests at any time from the emulator's event loop.

    ``counters`` starts with every key at 0: ``token`` (issued), ``token_rejected``, ``rest``
    (requests under /api/rest/v1), ``401`` (REST, upgrade and WebSocket refusals), ``ws_connect``,
    one per WebSocket command (``authenticate``, ``startSession``, ``addSubscription``,
    ``removeSubscription``, ``getState``), ``tasks`` (started), ``events`` (POST /events accepted)
    and ``alarms`` (created).
    """

    #: ``GET /tasks/{n}`` polls after which a task has ended (earlier polls report InProgress).
    task_polls_to_complete: int = 2
    #: Events each session keeps for replay on resume; beyond it the oldest are dropped.
    resume_buffer_size: int = 10_000
    #: Events kept for ``GET /events``.
    event_log_size: int = 10_000
    #: Upper bound on the waits inside drop_sockets(), send_malformed() and a closing socket.
    flush_timeout: float = 5.0

    def __init__(
        self,
        spec: XProtectSpec,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = "admin",
        password: str = "admin",
        token_lifetime_seconds: float = 3600,
        resume_window_seconds: float = 30,
    ) -> None:
        self.spec = spec
        self.username = username
        self.password = password
        self.token_lifetime_seconds = float(token_lifetime_seconds)
        self.resume_window_seconds = float(resume_window_seconds)
        self.quirks = Quirks()
        self.counters: dict[str, int] = dict.fromkeys(_COUNTER_NAMES, 0)
        self.alarms: list[dict[str, Any]] = []
        self.ptz_gotos: list[tuple[str, str]] = []
        self.bookmarks: list[dict[str, Any]] = []
        self.triggered_events: list[dict[str, Any]] = []
        self.failed_requests: list[str] = []  # "POST /api/rest/v1/alarms" answered by the http_500 quirk
        self._server = LoopbackServer(host, port, "the XProtect emulator")
        self._stamp = _iso(datetime.now(UTC).replace(microsecond=0))
        self._tokens: dict[str, float] = {}  # access token -> time.monotonic() expiry
        self._refresh_tokens: dict[str, str] = {}  # refresh token -> user name
        self._sockets: list[_Socket] = []
        self._sessions: dict[str, _Session] = {}
        self._seq = 0
        self._event_log: deque[_Fired] = deque(maxlen=self.event_log_size)
        self._states: dict[tuple[str, str], _Fired] = {}
        self._tasks: dict[int, _Task] = {}
        self._next_task = 1
        self._next_alarm = 1
        self._site_id = str(uuid.uuid5(_ID_NAMESPACE, f"site:{spec.site_name}"))
        self._recorder_id = str(uuid.uuid5(_ID_NAMESPACE, f"recordingServer:{spec.site_name}"))
        self._event_types: dict[str, _EventType] = {t.id.lower(): t for t in _BUILT_IN_EVENT_TYPES}
        for ude in spec.user_defined_events:
            self._event_types[ude.id.lower()] = _EventType(
                ude.id,
                ude.name,
                _EXTERNAL_EVENTS_GROUP,
                "External",
                "UserDefinedEvent",
                ("UserDefinedEvent",),
                built_in=False,
            )
        self._config = self._build_config()
        self._presets: dict[str, dict[str, dict[str, Any]]] = {
            camera.id: {
                preset_id: {
                    "id": preset_id,
                    "name": name,
                    "displayName": name,
                    "relations": {
                        "self": _ref("ptzPresets", preset_id),
                        "parent": _ref("cameras", camera.id),
                    },
                }
                for preset_id, name in camera.ptz_presets.items()
            }
            for camera in spec.cameras
        }
        self._commands: dict[str, Callable[[_Socket, Any, dict[str, Any]], None]] = {
            "startSession": self._cmd_start_session,
            "addSubscription": self._cmd_add_subscription,
            "removeSubscription": self._cmd_remove_subscription,
            "getState": self._cmd_get_state,
        }
        self._seed_states()

    # ---- lifecycle -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def url(self) -> str:
        return self._server.url

    async def start(self) -> None:
        await self._server.serve(self._build_app())
        log.debug("XProtect emulator listening on %s", self.url)

    async def stop(self) -> None:
        if not self._server.running:
            return
        await self.drop_sockets()
        self._sessions.clear()
        self._tasks.clear()
        await self._server.shutdown()

    async def __aenter__(self) -> XProtectEmulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # ---- observable state ------------------------------------------------------------------

    @property
    def open_sockets(self) -> int:
        """WebSockets currently connected."""
        return len(self._sockets)

    @property
    def sessions(self) -> int:
        """Sessions attached to a socket or still resumable."""
        self._purge_sessions()
        return len(self._sessions)

    # ---- test hooks ------------------------------------------------------------------------

    def expire_tokens(self) -> None:
        """Every access token issued so far is expired; open sockets stay open (they were
        checked when they connected)."""
        for token in self._tokens:
            self._tokens[token] = -math.inf

    async def drop_sockets(self) -> None:
        """Close every WebSocket abruptly (TCP abort, no close frame); sessions stay resumable."""
        sockets = list(self._sockets)
        for sock in sockets:
            self._detach(sock)
            sock.closing = True
            if sock.transport is not None:
                sock.transport.abort()
        await self._wait_closed(sockets)

    def expire_sessions(self) -> None:
        """Forget every session: a later resume gets a new one (201). A socket still open keeps
        receiving what its forgotten session subscribed to, but cannot be resumed after a drop."""
        self._sessions.clear()

    async def send_malformed(self) -> None:
        """Push one frame that is not JSON and one whose ``events`` is not a list to every socket,
        and return once they are written."""
        for sock in self._sockets:
            sock.send('{"events": [{"id": ')
            sock.send(json.dumps({"events": "not-a-list"}))
        await self._flush(list(self._sockets))

    # ---- events ----------------------------------------------------------------------------

    def fire(
        self,
        event_type: str,
        source: str,
        data: dict[str, Any] | None = None,
        *,
        time: datetime | None = None,
    ) -> dict[str, Any]:
        """Raise one event: push it to matching sockets, buffer it for resumes, update the state
        table and match alarm definitions. ``source`` is a REST path such as ``cameras/<id>``.

        Returns (a copy of) the event as pushed.
        """
        if not isinstance(event_type, str) or not event_type:
            raise ValueError(f"event_type must be a non-empty string, got {event_type!r}")
        if not isinstance(source, str):
            raise ValueError(f"source must be a REST path such as 'cameras/<id>', got {source!r}")
        kind, _, rest = source.partition("/")
        if not kind or not rest:
            raise ValueError(f"source must be a REST path such as 'cameras/<id>', got {source!r}")
        if data is not None and not isinstance(data, dict):
            raise ValueError(f"data must be a dict or None, got {data!r}")
        when = time if time is not None else datetime.now(UTC)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        fired = self._record(event_type, source, copy.deepcopy(data), when)
        self._event_log.append(fired)
        self._purge_sessions()
        for session in self._sessions.values():
            session.buffer.append(fired)
        for sock in self._sockets:
            if sock.session is not None and sock.session.matches(fired.event):
                self._push(sock, [fired.event])
        self._match_alarm_definitions(fired.event, when)
        return copy.deepcopy(fired.event)

    def motion(self, camera_id: str, on: bool) -> dict[str, Any]:
        self._require(camera_id, "cameras")
        return self.fire(MOTION_STARTED if on else MOTION_STOPPED, f"cameras/{camera_id}")

    def communication(self, camera_id: str, ok: bool) -> dict[str, Any]:
        self._require(camera_id, "cameras")
        return self.fire(COMMUNICATION_STARTED if ok else COMMUNICATION_STOPPED, f"cameras/{camera_id}")

    def recording(self, camera_id: str, on: bool) -> dict[str, Any]:
        self._require(camera_id, "cameras")
        return self.fire(RECORDING_STARTED if on else RECORDING_STOPPED, f"cameras/{camera_id}")

    def input(self, input_id: str, active: bool) -> dict[str, Any]:
        self._require(input_id, "inputEvents")
        return self.fire(INPUT_ACTIVATED if active else INPUT_DEACTIVATED, f"inputEvents/{input_id}")

    def output(self, output_id: str, active: bool) -> dict[str, Any]:
        self._require(output_id, "outputs")
        return self.fire(OUTPUT_ACTIVATED if active else OUTPUT_DEACTIVATED, f"outputs/{output_id}")

    def _require(self, item_id: str, kind: str) -> None:
        if item_id not in self._config[kind]:
            raise ValueError(
                f"the emulated site has no {kind} item {item_id!r}; it has {sorted(self._config[kind])}"
            )

    def _record(self, event_type: str, source: str, data: dict[str, Any] | None, when: datetime) -> _Fired:
        """A new event with the next sequence number, entered in the state table if stateful."""
        self._seq += 1
        event: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "type": event_type,
            "source": source,
            "time": _iso(when),
        }
        info = self._event_types.get(event_type.lower())
        if info is not None and info.state_group:
            event["stategroupid"] = info.state_group
        if data is not None:
            event["data"] = data
        fired = _Fired(self._seq, event)
        if "stategroupid" in event:
            self._states[(source, event["stategroupid"])] = fired
        return fired

    def _seed_states(self) -> None:
        for camera in self.spec.cameras:
            if camera.enabled:
                for type_id in (COMMUNICATION_STARTED, MOTION_STOPPED, RECORDING_STOPPED):
                    self._record(type_id, f"cameras/{camera.id}", None, datetime.now(UTC))
        for item in self.spec.inputs:
            if item.enabled:
                self._record(INPUT_DEACTIVATED, f"inputEvents/{item.id}", None, datetime.now(UTC))
        for output in self.spec.outputs:
            self._record(OUTPUT_DEACTIVATED, f"outputs/{output.id}", None, datetime.now(UTC))

    def _push(self, sock: _Socket, events: list[dict[str, Any]]) -> None:
        frame = json.dumps({"events": events})
        if self.quirks.malformed_json:
            frame = frame[: len(frame) // 2]
        sock.send(frame)

    def _match_alarm_definitions(self, event: Mapping[str, Any], when: datetime) -> None:
        kind, source_id = _split_source(str(event["source"]))
        for definition in self.spec.alarm_definitions:
            if definition.event_type.lower() != str(event["type"]).lower():
                continue
            if source_id not in definition.source_ids:
                continue
            if definition.related_cameras:
                camera: str | None = definition.related_cameras[0]
            else:
                camera = source_id if kind == "cameras" else None
            info = self._event_types.get(str(event["type"]).lower())
            self._create_alarm(
                name=definition.name,
                message=info.name if info is not None else str(event["type"]),
                camera=camera,
                priority=next(p for p in _ALARM_PRIORITIES if p.name == definition.priority),
                when=when,
            )

    # ---- sessions --------------------------------------------------------------------------

    def _purge_sessions(self) -> None:
        now = time.monotonic()
        for session_id, session in list(self._sessions.items()):
            gone = session.disconnected_at
            if session.socket is None and gone is not None and now - gone >= self.resume_window_seconds:
                del self._sessions[session_id]

    def _detach(self, sock: _Socket) -> None:
        session, sock.session = sock.session, None
        if session is not None:
            session.socket = None
            session.disconnected_at = time.monotonic()

    async def _flush(self, sockets: Iterable[_Socket]) -> None:
        joins = [sock.outbox.join() for sock in sockets if not sock.closing]
        if not joins:
            return
        try:
            await asyncio.wait_for(asyncio.gather(*joins), self.flush_timeout)
        except TimeoutError:
            log.warning("XProtect emulator: frames not written within %.1f s", self.flush_timeout)

    async def _wait_closed(self, sockets: list[_Socket]) -> None:
        if not sockets:
            return
        try:
            await asyncio.wait_for(asyncio.gather(*(s.done.wait() for s in sockets)), self.flush_timeout)
        except TimeoutError:
            log.warning("XProtect emulator: sockets not closed within %.1f s", self.flush_timeout)

    # ---- HTTP wiring -----------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        @web.middleware
        async def gateway(request: web.Request, handler: Handler) -> web.StreamResponse:
            return await self._gateway(request, handler)

        app = web.Application(middlewares=[gateway])
        r = app.router
        r.add_post(r"/{idp_path:(?i:(?:api/)?idp/connect/token/?)}", self._idp_token)
        r.add_get("/api/.well-known/uris", self._well_known_uris)
        r.add_get(r"/{idp_path:(?i:idp/\.well-known/openid-configuration)}", self._openid_configuration)
        r.add_get(WS_PATH, self._ws_endpoint)
        p = REST_PREFIX
        r.add_post(f"{p}/events", self._events_post)
        r.add_get(f"{p}/events", self._events_list)
        r.add_get(p + "/events/{event_id}", self._events_get)
        r.add_post(f"{p}/alarms", self._alarms_post)
        r.add_get(f"{p}/alarms", self._alarms_list)
        r.add_get(p + "/alarms/{alarm_id}", self._alarms_get)
        r.add_patch(p + "/alarms/{alarm_id}", self._alarms_patch)
        r.add_get(f"{p}/alarmStates", self._alarm_states)
        r.add_get(f"{p}/alarmPriorities", self._alarm_priorities)
        r.add_post(f"{p}/bookmarks", self._bookmarks_post)
        r.add_get(p + "/bookmarks/{bookmark_id}", self._bookmarks_get)
        r.add_get(f"{p}/tasks", self._tasks_list)
        r.add_get(p + "/tasks/{task_id}", self._tasks_get)
        r.add_post(p + "/tasks/{task_id}", self._tasks_post)
        r.add_get(p + "/{kind}", self._config_get)
        r.add_get(p + "/{kind}/{item_id}", self._config_get)
        r.add_post(p + "/{kind}/{item_id}", self._config_post)
        r.add_get(p + "/{kind}/{item_id}/{child}", self._config_get)
        r.add_post(p + "/{kind}/{item_id}/{child}", self._config_post)
        r.add_get(p + "/{kind}/{item_id}/{child}/{child_id}", self._config_get)
        r.add_post(p + "/{kind}/{item_id}/{child}/{child_id}", self._config_post)
        r.add_post("/control/fire", self._control_fire)
        r.add_post("/control/motion", self._control_device("camera", "on", self.motion))
        r.add_post("/control/communication", self._control_device("camera", "ok", self.communication))
        r.add_post("/control/recording", self._control_device("camera", "on", self.recording))
        r.add_post("/control/input", self._control_device("input", "active", self.input))
        r.add_post("/control/output", self._control_device("output", "active", self.output))
        r.add_post("/control/expire-tokens", self._control_expire_tokens)
        r.add_post("/control/drop-sockets", self._control_drop_sockets)
        r.add_post("/control/expire-sessions", self._control_expire_sessions)
        r.add_post("/control/malformed", self._control_malformed)
        r.add_post("/control/quirks", self._control_quirks)
        r.add_post("/control/settings", self._control_settings)
        r.add_get("/control/state", self._control_state)
        return app

    async def _gateway(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        rest = path == REST_PREFIX or path.startswith(REST_PREFIX + "/")
        if (rest or _IDP_TOKEN_RE.match(path)) and self.quirks.delay_seconds > 0:
            await asyncio.sleep(self.quirks.delay_seconds)
        if not rest:
            return await handler(request)
        self.counters["rest"] += 1
        try:
            problem = self._token_problem(request.headers.get("Authorization"))
            if problem is not None:
                raise _RestError(401, problem)
            if self.quirks.http_500:
                self.failed_requests.append(f"{request.method} {path}")
                raise _RestError(500, "Internal server error (emulated http_500 quirk)")
            return await handler(request)
        except _RestError as exc:
            return self._error_response(exc)
        except web.HTTPException as exc:  # the router's 404/405, in the gateway's error shape
            if exc.status < 400:
                raise
            return self._error_response(_RestError(exc.status, f"{exc.reason}: {request.method} {path}"))

    def _error_response(self, exc: _RestError) -> web.Response:
        if exc.status == 401:
            self.counters["401"] += 1
        log.debug("XProtect emulator: %s -> %s %s", exc.status, exc.text, exc.prop or "")
        return web.json_response(exc.body(), status=exc.status)

    @staticmethod
    async def _rest_json(request: web.Request, *, required: bool = True) -> dict[str, Any]:
        if not request.can_read_body:
            if required:
                raise _RestError(400, "The request needs a JSON body")
            return {}
        try:
            payload = await request.json()
        except ValueError:
            raise _RestError(400, "The request body is not valid JSON") from None
        if not isinstance(payload, dict):
            raise _RestError(400, "The request body must be a JSON object")
        return payload

    # ---- IDP -------------------------------------------------------------------------------

    def _token_problem(self, header: str | None) -> str | None:
        """None if ``header`` carries a valid bearer token, else the errorText to answer."""
        if header is None:
            return TOKEN_INVALID_TEXT
        scheme, _, token = header.strip().partition(" ")
        expiry = self._tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if expiry is None:
            return TOKEN_INVALID_TEXT
        if time.monotonic() >= expiry:
            return TOKEN_EXPIRED_TEXT
        return None

    def _issue_token(self, client_id: str) -> dict[str, Any]:
        token = secrets.token_urlsafe(32)
        lifetime = self.token_lifetime_seconds
        self._tokens[token] = time.monotonic() + lifetime
        self.counters["token"] += 1
        body: dict[str, Any] = {
            "access_token": token,
            "expires_in": max(0, math.ceil(lifetime)),
            "token_type": "Bearer",
            "scope": "managementserver",
        }
        if client_id == "VmsClient":
            refresh = secrets.token_urlsafe(32)
            self._refresh_tokens[refresh] = self.username
            body["refresh_token"] = refresh
        return body

    def _idp_error(self, error: str, **extra: str) -> web.Response:
        self.counters["token_rejected"] += 1
        return web.json_response({"error": error, **extra}, status=400)

    async def _idp_token(self, request: web.Request) -> web.Response:
        if request.content_type != "application/x-www-form-urlencoded":
            return self._idp_error("invalid_request", error_description="form-encoded body expected")
        form = await request.post()
        client_id = str(form.get("client_id", ""))
        grant_type = str(form.get("grant_type", ""))
        if client_id not in _GRANT_CLIENTS:
            return self._idp_error("invalid_client")
        if grant_type == "password":
            username, password = str(form.get("username", "")), str(form.get("password", ""))
            if username != self.username or not secrets.compare_digest(password, self.password):
                return self._idp_error(
                    "invalid_grant",
                    error_description="invalid_username_or_password",
                    error_code="InvalidCredentials",
                )
            return web.json_response(self._issue_token(client_id))
        if grant_type == "refresh_token" and client_id == "VmsClient":
            if self._refresh_tokens.pop(str(form.get("refresh_token", "")), None) is None:
                return self._idp_error("invalid_grant", error_description="invalid_refresh_token")
            return web.json_response(self._issue_token(client_id))
        return self._idp_error("unsupported_grant_type")

    def _base_url(self, request: web.Request) -> str:
        return f"{request.scheme}://{request.host}"

    async def _well_known_uris(self, request: web.Request) -> web.Response:
        base = self._base_url(request)
        return web.json_response(
            {
                "ProductVersion": self.spec.version,
                "UnsecureManagementServer": f"{base}/",
                "ApiGateways": [f"{base}/api/"],
                "IdentityProvider": f"{base}/IDP",
            }
        )

    async def _openid_configuration(self, request: web.Request) -> web.Response:
        base = self._base_url(request)
        return web.json_response(
            {
                "issuer": f"{base}/IDP",
                "token_endpoint": f"{base}/IDP/connect/token",
                "authorization_endpoint": f"{base}/IDP/connect/authorize",
                "grant_types_supported": ["password", "refresh_token"],
                "server_version": self.spec.version,
            }
        )

    # ---- config REST -----------------------------------------------------------------------

    def _build_config(self) -> dict[str, dict[str, dict[str, Any]]]:
        spec, stamp = self.spec, self._stamp
        site = {
            "displayName": spec.site_name,
            "id": self._site_id,
            "name": spec.site_name,
            "description": "Emulated XProtect site",
            "lastModified": stamp,
            "version": spec.version,
            "timeZone": "UTC",
            "computerName": "emulated-management",
            "relations": {"self": _ref("sites", self._site_id)},
        }
        recorder_name = f"{spec.site_name} recording server"
        recorder = {
            "displayName": recorder_name,
            "enabled": True,
            "id": self._recorder_id,
            "name": recorder_name,
            "description": "",
            "lastModified": stamp,
            "hostName": "emulated-recorder",
            "portNumber": 7563,
            "webServerUri": "http://emulated-recorder:7563/",
            "timeZoneName": "UTC",
            "relations": {
                "self": _ref("recordingServers", self._recorder_id),
                "parent": _ref("sites", self._site_id),
            },
        }
        hardware: dict[str, dict[str, Any]] = {}
        for index, hw_id in enumerate(spec.hardware_ids(), start=1):
            address = f"192.0.2.{(index - 1) % 254 + 1}"
            name = f"EmuCam {index} ({address})"
            hardware[hw_id] = {
                "displayName": name,
                "enabled": True,
                "id": hw_id,
                "name": name,
                "description": "",
                "address": f"http://{address}/",
                "userName": "root",
                "model": "Emulated IP camera",
                "lastModified": stamp,
                "passwordLastModified": stamp,
                "hardwareDriverPath": _ref("hardwareDrivers", _HARDWARE_DRIVER_ID),
                "relations": {
                    "self": _ref("hardware", hw_id),
                    "parent": _ref("recordingServers", self._recorder_id),
                },
            }
        channels: dict[tuple[str, str], int] = {}

        def device(kind: str, item_id: str, name: str, hw_id: str, enabled: bool) -> dict[str, Any]:
            channel = channels.get((kind, hw_id), 0)
            channels[(kind, hw_id)] = channel + 1
            return {
                "displayName": name,
                "enabled": enabled,
                "id": item_id,
                "name": name,
                "channel": channel,
                "description": "",
                "createdDate": stamp,
                "lastModified": stamp,
                "gisPoint": "POINT EMPTY",
                "shortName": name,
                "icon": 0,
                "coverageDirection": 0.0,
                "coverageDepth": 0.0,
                "coverageFieldOfView": 0.0,
                "relations": {"self": _ref(kind, item_id), "parent": _ref("hardware", hw_id)},
            }

        cameras = {}
        for camera in spec.cameras:
            item = device("cameras", camera.id, camera.name, camera.hardware_id, camera.enabled)
            item.update(
                {
                    "recordingFramerate": 5,
                    "recordKeyframesOnly": False,
                    "recordOnRelatedDevices": True,
                    "recordingEnabled": True,
                    "prebufferEnabled": True,
                    "prebufferInMemory": True,
                    "prebufferSeconds": 3,
                    "edgeStorageEnabled": False,
                    "edgeStoragePlaybackEnabled": False,
                    "manualRecordingTimeoutEnabled": True,
                    "manualRecordingTimeoutMinutes": 5,
                    "recordingStorage": _ref("storages", _STORAGE_ID),
                }
            )
            cameras[camera.id] = item
        inputs = {i.id: device("inputEvents", i.id, i.name, i.hardware_id, i.enabled) for i in spec.inputs}
        outputs = {o.id: device("outputs", o.id, o.name, o.hardware_id, True) for o in spec.outputs}
        udes = {
            u.id: {
                "displayName": u.name,
                "id": u.id,
                "name": u.name,
                "createdDate": stamp,
                "lastModified": stamp,
                "subtype": "UserDefined",
                "relations": {
                    "self": _ref("userDefinedEvents", u.id),
                    "parent": _ref("sites", self._site_id),
                },
            }
            for u in spec.user_defined_events
        }
        event_types = {info.id: self._event_type_item(info) for info in self._event_types.values()}
        groups = {
            group_id: {
                "displayName": name,
                "id": group_id,
                "name": name,
                "lastModified": stamp,
                "relations": {"self": _ref("eventTypeGroups", group_id)},
            }
            for group_id, name in _EVENT_TYPE_GROUPS.items()
        }
        state_groups = {
            group_id: {
                "displayName": name,
                "id": group_id,
                "name": name,
                "states": [state for _, _, state, _ in rows],
                "lastModified": stamp,
                "relations": {"self": _ref("stateGroups", group_id)},
            }
            for group_id, name, _, _, rows in _DEVICE_EVENT_TABLE
        }
        config: dict[str, dict[str, dict[str, Any]]] = {
            "sites": {self._site_id: site},
            "recordingServers": {self._recorder_id: recorder},
            "hardware": hardware,
            "cameras": cameras,
            "inputEvents": inputs,
            "outputs": outputs,
            "userDefinedEvents": udes,
            "eventTypeGroups": groups,
            "eventTypes": event_types,
            "stateGroups": state_groups,
        }
        config["alarmDefinitions"] = {
            d.id: self._alarm_definition_item(d, config) for d in spec.alarm_definitions
        }
        return config

    def _event_type_item(self, info: _EventType) -> dict[str, Any]:
        return {
            "displayName": info.name,
            "id": info.id,
            "name": info.name,
            "description": "",
            "lastModified": self._stamp,
            "generatorType": info.generator_type,
            "generatorSubtype": info.generator_subtype,
            "generatorName": info.generator_subtype,
            "generatorGroupName": _EVENT_TYPE_GROUPS[info.group],
            "occursGlobally": False,
            "builtIn": info.built_in,
            "counterEventID": info.counter,
            "sourceArray": list(info.source_array),
            "stateGroupId": info.state_group,
            "state": info.state,
            "relations": {
                "self": _ref("eventTypes", info.id),
                "parent": _ref("eventTypeGroups", info.group),
            },
        }

    def _alarm_definition_item(
        self, definition: AlarmDefinitionSpec, config: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, Any]:
        def source_ref(item_id: str) -> dict[str, str]:
            kind = next(k for k in _SOURCE_KINDS if item_id in config[k])
            return _ref(kind, item_id)

        info = self._event_types.get(definition.event_type.lower())
        priority = next(p for p in _ALARM_PRIORITIES if p.name == definition.priority)
        return {
            "enabled": True,
            "displayName": definition.name,
            "id": definition.id,
            "name": definition.name,
            "description": "",
            "eventTypeGroup": info.group if info is not None else _EMPTY_GUID,
            "eventType": definition.event_type,
            "sourceList": [source_ref(s) for s in definition.source_ids],
            "enableRule": "0",
            "managementTimeoutTime": "00:01:00",
            "managementTimeoutEventList": [],
            "relatedCameraList": [_ref("cameras", c) for c in definition.related_cameras],
            "mapType": "0",
            "relatedMap": _EMPTY_GUID,
            "owner": "",
            "priority": priority.id,
            "category": _EMPTY_GUID,
            "triggerEventlist": [],
            "autoClose": False,
            "lastModified": self._stamp,
            "relations": {
                "self": _ref("alarmDefinitions", definition.id),
                "parent": _ref("sites", self._site_id),
            },
        }

    def _collection(self, kind: str) -> dict[str, dict[str, Any]]:
        items = self._config.get(kind)
        if items is None:
            raise _RestError(404, f"Resource not found. {kind}")
        return items

    def _item(self, kind: str, item_id: str) -> dict[str, Any]:
        item = self._collection(kind).get(item_id)
        if item is None:
            raise _not_found(kind, item_id)
        return item

    def _children(self, kind: str, item_id: str, child: str) -> dict[str, dict[str, Any]]:
        self._item(kind, item_id)
        if child not in _CHILD_KINDS.get(kind, ()):
            raise _RestError(404, f"Resource not found. {kind}/{item_id}/{child}")
        if child == "ptzPresets":
            return self._presets.get(item_id, {})
        parent = _ref(kind, item_id)
        return {
            i: item for i, item in self._config[child].items() if item["relations"].get("parent") == parent
        }

    @staticmethod
    def _select(items: Iterable[dict[str, Any]], query: Mapping[str, str]) -> list[dict[str, Any]]:
        checks = [_field_filter(k, v) for k, v in query.items() if k not in _RESERVED_QUERY]
        include_disabled = "disabled" in query
        return [
            copy.deepcopy(item)
            for item in items
            if (include_disabled or item.get("enabled", True)) and all(check(item) for check in checks)
        ]

    def _task_catalog(
        self, kind: str, item_id: str, child: str | None, child_id: str | None
    ) -> dict[str, str]:
        """Task id -> display name offered at a path."""
        if kind == "cameras" and child == "ptzPresets":
            if child_id is None:
                return {"DefaultPtzPreset": "Set default preset", "GetDevicePresets": "Get device presets"}
            return {"Activate": "Go to preset"}
        if kind == "outputs" and child is None:
            return {
                "Activate": "Activate output",
                "Deactivate": "Deactivate output",
                "Trigger": "Trigger output",
            }
        return {}

    @staticmethod
    def _tasks_body(catalog: Mapping[str, str]) -> dict[str, Any]:
        return {"tasks": [{"id": task_id, "displayName": name} for task_id, name in catalog.items()]}

    @staticmethod
    def _path_parts(request: web.Request) -> tuple[str, str | None, str | None, str | None]:
        """(kind, item id, child kind, child id) of a config path; absent parts are None."""
        info = request.match_info
        return info["kind"], info.get("item_id"), info.get("child"), info.get("child_id")

    async def _config_get(self, request: web.Request) -> web.Response:
        kind, item_id, child, child_id = self._path_parts(request)
        query = request.query
        if item_id is None:
            items = self._collection(kind)
            if "tasks" in query:
                return web.json_response({"tasks": []})
            return web.json_response({"array": self._select(items.values(), query)})
        if child is None:
            item = self._item(kind, item_id)
            if "tasks" in query:
                return web.json_response(self._tasks_body(self._task_catalog(kind, item_id, None, None)))
            return web.json_response({"data": copy.deepcopy(item)})
        children = self._children(kind, item_id, child)
        if child_id is None:
            if "tasks" in query:
                return web.json_response(self._tasks_body(self._task_catalog(kind, item_id, child, None)))
            return web.json_response({"array": self._select(children.values(), query)})
        child_item = children.get(child_id)
        if child_item is None:
            raise _not_found(child, child_id)
        if "tasks" in query:
            return web.json_response(self._tasks_body(self._task_catalog(kind, item_id, child, child_id)))
        return web.json_response({"data": copy.deepcopy(child_item)})

    async def _config_post(self, request: web.Request) -> web.Response:
        kind, item_id, child, child_id = self._path_parts(request)
        assert item_id is not None  # the POST routes all name an item
        if child is None:
            self._item(kind, item_id)
        else:
            children = self._children(kind, item_id, child)
            if child_id is not None and child_id not in children:
                raise _not_found(child, child_id)
        task_name = request.query.get("task")
        if not task_name:
            raise _RestError(400, "Creating or changing configuration is not emulated; use ?task=<id>")
        catalog = self._task_catalog(kind, item_id, child, child_id)
        if task_name not in catalog:
            raise _RestError(400, f"Unknown task {task_name!r}; tasks here: {sorted(catalog)}", prop="task")
        body = await self._rest_json(request, required=False)
        session_data_id = body.get("sessionDataId", 0)
        target, action = self._task_action(kind, item_id, child_id, task_name)
        task = _Task(id=self._next_task, name=catalog[task_name], target=target, action=action)
        self._next_task += 1
        self._tasks[task.id] = task
        self.counters["tasks"] += 1
        result = {"sessionDataId": session_data_id, "state": task.state, "path": _ref("tasks", str(task.id))}
        return web.json_response({"result": result})

    def _task_action(
        self, kind: str, item_id: str, child_id: str | None, task_name: str
    ) -> tuple[dict[str, str], Callable[[], None] | None]:
        if kind == "cameras" and child_id is not None:
            preset_id = child_id

            def goto() -> None:
                self.ptz_gotos.append((item_id, preset_id))

            return _ref("ptzPresets", preset_id), goto
        if kind == "outputs":
            steps = {"Activate": (True,), "Deactivate": (False,), "Trigger": (True, False)}[task_name]

            def switch() -> None:
                for active in steps:
                    self.output(item_id, active)

            return _ref("outputs", item_id), switch
        return _ref(kind, item_id), None

    def _task(self, request: web.Request) -> _Task:
        raw = request.match_info["task_id"]
        task = self._tasks.get(int(raw)) if raw.isdigit() else None
        if task is None:
            raise _RestError(404, f"Task not found. tasks/{raw}")
        return task

    def _advance(self, task: _Task) -> None:
        if task.state not in ("Idle", "InProgress"):
            return
        task.polls += 1
        if task.polls < self.task_polls_to_complete:
            task.state = "InProgress"
            return
        if self.quirks.fail_tasks:
            task.state = "Error"
            task.error = f"{task.name} failed (emulated fail_tasks quirk)"
            return
        if task.action is not None:
            task.action()
        task.state = "Success"

    async def _tasks_list(self, request: web.Request) -> web.Response:
        return web.json_response({"array": [task.data() for task in self._tasks.values()]})

    async def _tasks_get(self, request: web.Request) -> web.Response:
        task = self._task(request)
        self._advance(task)
        return web.json_response({"data": task.data()})

    async def _tasks_post(self, request: web.Request) -> web.Response:
        task = self._task(request)
        name = request.query.get("task")
        if name != "TaskCleanup":
            raise _RestError(400, f"Unknown task {name!r}; tasks here: ['TaskCleanup']", prop="task")
        del self._tasks[task.id]
        return web.json_response({"result": {"state": "Success", "path": _ref("tasks", str(task.id))}})

    # ---- events REST -----------------------------------------------------------------------

    def _source_path(self, raw: Any, prop: str) -> str:
        """A ``type/id`` path naming an existing item, from a path or a ``{type, id}`` object."""
        if isinstance(raw, dict) and isinstance(raw.get("type"), str) and isinstance(raw.get("id"), str):
            kind, item_id = raw["type"], raw["id"]
        elif isinstance(raw, str) and "/" in raw:
            kind, _, item_id = raw.partition("/")
        else:
            raise _RestError(400, f"{prop} must be a path such as 'cameras/<id>' or {{type, id}}", prop=prop)
        if kind not in _SOURCE_KINDS or item_id not in self._config[kind]:
            raise _RestError(400, f"Source not found. {kind}/{item_id}", prop=prop)
        return f"{kind}/{item_id}"

    async def _events_post(self, request: web.Request) -> web.Response:
        body = await self._rest_json(request)
        type_id = body.get("type")
        if not isinstance(type_id, str) or not type_id:
            raise _RestError(400, "type must be an event type id", prop="type")
        info = self._event_types.get(type_id.lower())
        if info is None:
            raise _RestError(400, f"Event type not found. eventTypes/{type_id}", prop="type")
        raw_source = body.get("source")
        if raw_source is None:
            if info.generator_type != "External":
                raise _RestError(400, f"source is required for event type {info.name!r}", prop="source")
            source = f"userDefinedEvents/{info.id}"
        else:
            source = self._source_path(raw_source, "source")
        data = body.get("data")
        if data is not None and not isinstance(data, dict):
            raise _RestError(400, "data must be a JSON object", prop="data")
        event = self.fire(info.id, source, data)
        self.counters["events"] += 1
        self.triggered_events.append(copy.deepcopy(event))
        return web.json_response({"data": event}, status=202)

    async def _events_list(self, request: web.Request) -> web.Response:
        page, size = _paging(request.query)
        newest_first = [f.event for f in reversed(self._event_log)]
        chosen = newest_first[page * size : (page + 1) * size]
        return web.json_response({"array": copy.deepcopy(chosen)})

    async def _events_get(self, request: web.Request) -> web.Response:
        event_id = request.match_info["event_id"]
        for fired in self._event_log:
            if fired.event["id"] == event_id:
                return web.json_response({"data": copy.deepcopy(fired.event)})
        raise _RestError(404, f"Event not found. events/{event_id}")

    # ---- alarms REST -----------------------------------------------------------------------

    def _create_alarm(
        self, *, name: str, message: str, camera: str | None, priority: _Level, when: datetime
    ) -> dict[str, Any]:
        alarm_id = str(uuid.uuid4())
        alarm: dict[str, Any] = {
            "id": alarm_id,
            "localId": self._next_alarm,
            "name": name,
            "message": message,
            "source": _ref("cameras", camera) if camera is not None else None,
            "state": _ALARM_STATES[0].ref(),
            "priority": priority.ref(),
            "comment": "",
            "time": _iso(when),
            "lastModified": _iso(datetime.now(UTC)),
            "relations": {"self": _ref("alarms", alarm_id)},
        }
        self._next_alarm += 1
        self.alarms.append(alarm)
        self.counters["alarms"] += 1
        return alarm

    def _alarm(self, request: web.Request) -> dict[str, Any]:
        alarm_id = request.match_info["alarm_id"]
        alarm = next((a for a in self.alarms if a["id"] == alarm_id), None)
        if alarm is None:
            raise _RestError(404, f"Alarm not found. alarms/{alarm_id}")
        return alarm

    @staticmethod
    def _level(levels: tuple[_Level, ...], value: Any, prop: str, *, by_name: bool = False) -> _Level:
        for level in levels:
            if value == level.id or (by_name and value == level.name):
                return level
        raise _RestError(400, f"Unknown {prop} {value!r}; known: {[lv.id for lv in levels]}", prop=prop)

    async def _alarms_post(self, request: web.Request) -> web.Response:
        body = await self._rest_json(request)
        name, message = body.get("name"), body.get("message", "")
        if not isinstance(name, str) or not name:
            raise _RestError(400, "name must be a non-empty string", prop="name")
        if not isinstance(message, str):
            raise _RestError(400, "message must be a string", prop="message")
        raw_source = body.get("source")
        if isinstance(raw_source, str) and "/" not in raw_source:
            raw_source = f"cameras/{raw_source}"
        kind, camera = _split_source(self._source_path(raw_source, "source"))
        if kind != "cameras":
            raise _RestError(400, f"source must be a camera, got {kind}/{camera}", prop="source")
        priority = self._level(_ALARM_PRIORITIES, body.get("priority", "High"), "priority", by_name=True)
        alarm = self._create_alarm(
            name=name, message=message, camera=camera, priority=priority, when=datetime.now(UTC)
        )
        return web.json_response({"data": copy.deepcopy(alarm)}, status=202)

    async def _alarms_list(self, request: web.Request) -> web.Response:
        page, size = _paging(request.query)
        newest_first = list(reversed(self.alarms))
        return web.json_response({"array": copy.deepcopy(newest_first[page * size : (page + 1) * size])})

    async def _alarms_get(self, request: web.Request) -> web.Response:
        return web.json_response({"data": copy.deepcopy(self._alarm(request))})

    async def _alarms_patch(self, request: web.Request) -> web.Response:
        alarm = self._alarm(request)
        body = await self._rest_json(request)
        allowed = {"state", "priority", "comment", "assignedTo.displayName", "reasonForClosing"}
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise _RestError(
                400, f"Unknown alarm properties {unknown}; known: {sorted(allowed)}", prop=unknown[0]
            )
        changes: dict[str, Any] = {}
        if body.get("state") is not None:
            changes["state"] = self._level(_ALARM_STATES, body["state"], "state").ref()
        if body.get("priority") is not None:
            changes["priority"] = self._level(_ALARM_PRIORITIES, body["priority"], "priority").ref()
        for key, target in (
            ("comment", "comment"),
            ("reasonForClosing", "reasonForClosing"),
            ("assignedTo.displayName", "assignedTo"),
        ):
            value = body.get(key)
            if value is None:
                continue
            if not isinstance(value, str):
                raise _RestError(400, f"{key} must be a string or null", prop=key)
            changes[target] = {"displayName": value} if target == "assignedTo" else value
        alarm.update(changes)
        alarm["lastModified"] = _iso(datetime.now(UTC))
        return web.json_response({"data": copy.deepcopy(alarm)}, status=202)

    async def _alarm_states(self, request: web.Request) -> web.Response:
        return web.json_response({"array": [s.item() for s in _ALARM_STATES]})

    async def _alarm_priorities(self, request: web.Request) -> web.Response:
        return web.json_response({"array": [p.item() for p in _ALARM_PRIORITIES]})

    # ---- bookmarks REST --------------------------------------------------------------------

    async def _bookmarks_post(self, request: web.Request) -> web.Response:
        if "task" in request.query:
            raise _RestError(400, f"Bookmark task {request.query['task']!r} is not emulated", prop="task")
        body = await self._rest_json(request)
        header, description = body.get("header"), body.get("description", "")
        if not isinstance(header, str) or not header:
            raise _RestError(400, "header must be a non-empty string", prop="header")
        if not isinstance(description, str):
            raise _RestError(400, "description must be a string", prop="description")
        begin = _parse_time(body.get("timeBegin"), "timeBegin")
        end = _parse_time(body.get("timeEnd"), "timeEnd")
        if end < begin:
            raise _RestError(400, "timeEnd must not be before timeBegin", prop="timeEnd")
        triggered = (
            begin
            if body.get("timeTriggered") is None
            else _parse_time(body["timeTriggered"], "timeTriggered")
        )
        device = body.get("devicePath")
        if not isinstance(device, dict) or device.get("type") != "cameras":
            raise _RestError(
                400, "devicePath must be {'type': 'cameras', 'id': <camera id>}", prop="devicePath"
            )
        kind, camera = _split_source(self._source_path(device, "devicePath"))
        reference = body.get("reference", f"no.{len(self.bookmarks) + 1}")
        if not isinstance(reference, str):
            raise _RestError(400, "reference must be a string", prop="reference")
        bookmark_id = str(uuid.uuid4())
        bookmark = {
            "id": bookmark_id,
            "header": header,
            "description": description,
            "timeBegin": _iso(begin),
            "timeEnd": _iso(end),
            "timeTriggered": _iso(triggered),
            "reference": reference,
            "user": self.username,
            "devicePath": _ref(kind, camera),
            "deviceName": self._config["cameras"][camera]["name"],
            "relations": {"self": _ref("bookmarks", bookmark_id), "parent": _ref(kind, camera)},
        }
        self.bookmarks.append(bookmark)
        return web.json_response({"data": copy.deepcopy(bookmark)}, status=201)

    async def _bookmarks_get(self, request: web.Request) -> web.Response:
        bookmark_id = request.match_info["bookmark_id"]
        for bookmark in self.bookmarks:
            if bookmark["id"] == bookmark_id:
                return web.json_response({"data": copy.deepcopy(bookmark)})
        raise _RestError(404, f"Bookmark not found. bookmarks/{bookmark_id}")

    # ---- Events and State WebSocket --------------------------------------------------------

    async def _ws_endpoint(self, request: web.Request) -> web.StreamResponse:
        header = request.headers.get("Authorization")
        if header is not None:
            problem = self._token_problem(header)
            if problem is not None:
                return self._error_response(_RestError(401, problem))
        ws = web.WebSocketResponse(timeout=self.flush_timeout)
        await ws.prepare(request)
        self.counters["ws_connect"] += 1
        sock = _Socket(ws=ws, transport=request.transport, authenticated=header is not None)
        self._sockets.append(sock)
        writer = asyncio.create_task(self._write_loop(sock))
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    close = self._on_command(sock, msg.data)
                elif msg.type is WSMsgType.BINARY:
                    close = (CLOSE_MALFORMED, "binary frames are not commands")
                else:  # ERROR: the connection broke
                    break
                if close is not None:
                    await self._flush([sock])
                    sock.closing = True
                    await ws.close(code=close[0], message=close[1].encode())
                    break
        finally:
            self._detach(sock)
            sock.closing = True
            self._sockets.remove(sock)
            writer.cancel()
            await asyncio.wait([writer])
            sock.done.set()
        return ws

    async def _write_loop(self, sock: _Socket) -> None:
        while True:
            frame = await sock.outbox.get()
            try:
                if not sock.closing:
                    await sock.ws.send_str(frame)
            except ConnectionError as exc:  # the peer went away; the reader loop ends the socket
                log.debug("XProtect emulator: push failed: %s", exc)
                sock.closing = True
            finally:
                sock.outbox.task_done()

    def _reply(self, sock: _Socket, command_id: Any, status: int, **fields: Any) -> None:
        sock.send(json.dumps({"commandId": command_id, "status": status, **fields}))

    def _reply_error(self, sock: _Socket, command_id: Any, status: int, text: str) -> None:
        self._reply(sock, command_id, status, error={"errorText": text})

    def _on_command(self, sock: _Socket, raw: str) -> tuple[int, str] | None:
        """Handle one command; returns (close code, reason) when the socket must close."""
        try:
            msg = json.loads(raw)
        except ValueError:
            return CLOSE_MALFORMED, "command is not valid JSON"
        if not isinstance(msg, dict) or not isinstance(msg.get("command"), str):
            return CLOSE_MALFORMED, "command must be a JSON object with a 'command' string"
        name, command_id = msg["command"], msg.get("commandId")
        if name == "authenticate":
            self.counters["authenticate"] += 1
            return self._cmd_authenticate(sock, command_id, msg)
        if not sock.authenticated:
            self.counters["401"] += 1
            self._reply_error(
                sock,
                command_id,
                401,
                "Not authenticated: send 'authenticate' first or an Authorization header",
            )
            return CLOSE_UNAUTHORIZED, "not authenticated"
        handler = self._commands.get(name)
        if handler is None:
            self._reply_error(
                sock, command_id, 400, f"Unknown command {name!r}; known: {sorted(self._commands)}"
            )
            return None
        self.counters[name] += 1
        handler(sock, command_id, msg)
        return None

    def _cmd_authenticate(
        self, sock: _Socket, command_id: Any, msg: dict[str, Any]
    ) -> tuple[int, str] | None:
        token = msg.get("token")
        if not isinstance(token, str) or not token.strip():
            problem: str | None = TOKEN_INVALID_TEXT
        else:
            token = token.strip()
            header = token if token.lower().startswith("bearer ") else f"Bearer {token}"
            problem = self._token_problem(header)
        if problem is not None:
            self.counters["401"] += 1
            self._reply_error(sock, command_id, 401, problem)
            return None if sock.authenticated else (CLOSE_UNAUTHORIZED, "authentication failed")
        sock.authenticated = True
        self._reply(sock, command_id, 200)
        return None

    def _cmd_start_session(self, sock: _Socket, command_id: Any, msg: dict[str, Any]) -> None:
        session_id, event_id = msg.get("sessionId") or "", msg.get("eventId") or ""
        if not isinstance(session_id, str) or not isinstance(event_id, str):
            self._reply_error(sock, command_id, 400, "sessionId and eventId must be strings")
            return
        self._purge_sessions()
        self._detach(sock)
        old = self._sessions.get(session_id) if session_id else None
        if old is not None and old.socket is None:
            old.socket, old.disconnected_at, sock.session = sock, None, old
            self._reply(sock, command_id, 200, sessionId=old.id)
            self._replay(sock, old, event_id)
            return
        session = _Session(id=str(uuid.uuid4()), buffer=deque(maxlen=self.resume_buffer_size))
        session.socket, sock.session = sock, session
        self._sessions[session.id] = session
        self._reply(sock, command_id, 201, sessionId=session.id)

    def _replay(self, sock: _Socket, session: _Session, event_id: str) -> None:
        buffered = list(session.buffer)
        if event_id:
            index = next((i for i, f in enumerate(buffered) if f.event["id"] == event_id), None)
            if index is not None:
                buffered = buffered[index + 1 :]
        missed = [f.event for f in buffered if session.matches(f.event)]
        for start in range(0, len(missed), _REPLAY_CHUNK):
            self._push(sock, missed[start : start + _REPLAY_CHUNK])

    def _cmd_add_subscription(self, sock: _Socket, command_id: Any, msg: dict[str, Any]) -> None:
        session = sock.session
        if session is None:
            self._reply_error(sock, command_id, 400, "No session: send startSession first")
            return
        raw = msg.get("filters")
        if not isinstance(raw, list) or not raw:
            self._reply_error(sock, command_id, 400, "filters must be a non-empty list")
            return
        try:
            filters = tuple(_Filter.parse(f) for f in raw)
        except ValueError as exc:
            self._reply_error(sock, command_id, 400, f"Invalid filter: {exc}")
            return
        subscription_id = str(uuid.uuid4())
        session.subscriptions[subscription_id] = filters
        self._reply(sock, command_id, 200, subscriptionId=subscription_id)

    def _cmd_remove_subscription(self, sock: _Socket, command_id: Any, msg: dict[str, Any]) -> None:
        session = sock.session
        if session is None:
            self._reply_error(sock, command_id, 400, "No session: send startSession first")
            return
        subscription_id = msg.get("subscriptionId")
        if not isinstance(subscription_id, str) or subscription_id not in session.subscriptions:
            self._reply_error(sock, command_id, 404, f"Subscription not found: {subscription_id!r}")
            return
        del session.subscriptions[subscription_id]
        self._reply(sock, command_id, 200)

    def _cmd_get_state(self, sock: _Socket, command_id: Any, msg: dict[str, Any]) -> None:
        session = sock.session
        if session is None:
            self._reply_error(sock, command_id, 400, "No session: send startSession first")
            return
        current = sorted(self._states.values(), key=lambda f: f.seq)
        self._reply(sock, command_id, 200, states=[f.event for f in current if session.matches(f.event)])

    # ---- control surface -------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        return {
            "open_sockets": self.open_sockets,
            "sessions": self.sessions,
            "counters": dict(self.counters),
            "alarms": copy.deepcopy(self.alarms),
            "ptz_gotos": [list(goto) for goto in self.ptz_gotos],
            "quirks": dataclasses.asdict(self.quirks),
            "token_lifetime_seconds": self.token_lifetime_seconds,
            "resume_window_seconds": self.resume_window_seconds,
        }

    async def _control_fire(self, request: web.Request) -> web.Response:
        payload = await control_body(request)
        event_type, source, data = payload.get("type"), payload.get("source"), payload.get("data")
        if not isinstance(event_type, str) or not isinstance(source, str):
            raise control_error("expected {'type': str, 'source': 'kind/id', 'data'?: object}")
        if data is not None and not isinstance(data, dict):
            raise control_error("'data' must be an object or null")
        try:
            event = self.fire(event_type, source, data)
        except ValueError as exc:
            raise control_error(str(exc)) from exc
        return web.json_response({"event": event})

    def _control_device(
        self, id_key: str, flag_key: str, action: Callable[[str, bool], dict[str, Any]]
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def endpoint(request: web.Request) -> web.Response:
            payload = await control_body(request)
            item_id, flag = payload.get(id_key), payload.get(flag_key)
            if not isinstance(item_id, str) or not isinstance(flag, bool):
                raise control_error(f"expected {{'{id_key}': str, '{flag_key}': bool}}")
            try:
                event = action(item_id, flag)
            except ValueError as exc:
                raise control_error(str(exc)) from exc
            return web.json_response({"event": event})

        return endpoint

    async def _control_expire_tokens(self, request: web.Request) -> web.Response:
        self.expire_tokens()
        return web.json_response(self._state())

    async def _control_drop_sockets(self, request: web.Request) -> web.Response:
        await self.drop_sockets()
        return web.json_response(self._state())

    async def _control_expire_sessions(self, request: web.Request) -> web.Response:
        self.expire_sessions()
        return web.json_response(self._state())

    async def _control_malformed(self, request: web.Request) -> web.Response:
        await self.send_malformed()
        return web.json_response(self._state())

    async def _control_quirks(self, request: web.Request) -> web.Response:
        payload = await control_body(request)
        try:
            self.quirks.update(payload)
        except (TypeError, ValueError) as exc:
            raise control_error(str(exc)) from exc
        return web.json_response(self._state())

    async def _control_settings(self, request: web.Request) -> web.Response:
        payload = await control_body(request)
        known = {"token_lifetime_seconds", "resume_window_seconds"}
        unknown = sorted(set(payload) - known)
        if unknown:
            raise control_error(f"unknown setting(s) {unknown}; known: {sorted(known)}")
        for name, value in payload.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise control_error(f"{name} must be a number >= 0, got {value!r}")
        for name, value in payload.items():
            setattr(self, name, float(value))
        return web.json_response(self._state())

    async def _control_state(self, request: web.Request) -> web.Response:
        return web.json_response(self._state())
