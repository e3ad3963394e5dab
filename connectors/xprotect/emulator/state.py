"""The state of one emulated XProtect gateway, shared by its endpoint modules: spec, credentials,
quirks, counters, configuration, the event log and state table, tasks, sessions and alarms.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from connectors.emulation import LoopbackServer
from connectors.xprotect.emulator.config_tree import build_config
from connectors.xprotect.emulator.ids import (
    _BUILT_IN_EVENT_TYPES,
    _EXTERNAL_EVENTS_GROUP,
    _ID_NAMESPACE,
    _SOURCE_KINDS,
    COMMUNICATION_STARTED,
    INPUT_DEACTIVATED,
    MOTION_STOPPED,
    OUTPUT_DEACTIVATED,
    RECORDING_STOPPED,
    _EventType,
)
from connectors.xprotect.emulator.rest import _iso, _ref, _RestError
from connectors.xprotect.emulator.sessions import _Fired, _Session, _Socket
from connectors.xprotect.emulator.spec import Quirks, XProtectSpec

__all__ = ["GatewayState"]

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


class GatewayState:
    """What one emulated gateway holds and the operations on it that several endpoints share."""

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
        self._config = build_config(
            spec,
            stamp=self._stamp,
            site_id=self._site_id,
            recorder_id=self._recorder_id,
            known_types=self._event_types,
        )
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
        self._seed_states()

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def url(self) -> str:
        return self._server.url

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
