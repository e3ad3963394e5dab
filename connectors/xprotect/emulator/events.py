"""Raising events on the emulated gateway: :meth:`fire` and its wrappers in process, and the
events REST endpoints (trigger, list, read).
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from connectors.xprotect.emulator.alarms import Alarms
from connectors.xprotect.emulator.events_socket import EventsSocket
from connectors.xprotect.emulator.ids import (
    COMMUNICATION_STARTED,
    COMMUNICATION_STOPPED,
    HARDWARE_COMMUNICATION_ERROR,
    HARDWARE_COMMUNICATION_STARTED,
    HARDWARE_COMMUNICATION_STOPPED,
    INPUT_ACTIVATED,
    INPUT_DEACTIVATED,
    MOTION_STARTED,
    MOTION_STOPPED,
    OUTPUT_ACTIVATED,
    OUTPUT_DEACTIVATED,
    RECORDING_STARTED,
    RECORDING_STOPPED,
)
from connectors.xprotect.emulator.rest import _paging, _rest_json, _RestError

__all__ = ["EventFiring"]


class EventFiring(EventsSocket, Alarms):
    """Events pushed to sockets, buffered for resumes, recorded as state and matched to alarm definitions."""

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

    def hardware_communication(self, hardware_id: str, state: str) -> dict[str, Any]:
        """A hardware-level communication event; ``state`` is "started", "stopped" or "error"."""
        self._require(hardware_id, "hardware")
        types = {
            "started": HARDWARE_COMMUNICATION_STARTED,
            "stopped": HARDWARE_COMMUNICATION_STOPPED,
            "error": HARDWARE_COMMUNICATION_ERROR,
        }
        if state not in types:
            raise ValueError(f"state must be one of {sorted(types)}, got {state!r}")
        return self.fire(types[state], f"hardware/{hardware_id}")

    def recording(self, camera_id: str, on: bool) -> dict[str, Any]:
        self._require(camera_id, "cameras")
        return self.fire(RECORDING_STARTED if on else RECORDING_STOPPED, f"cameras/{camera_id}")

    def input(self, input_id: str, active: bool) -> dict[str, Any]:
        self._require(input_id, "inputEvents")
        return self.fire(INPUT_ACTIVATED if active else INPUT_DEACTIVATED, f"inputEvents/{input_id}")

    def output(self, output_id: str, active: bool) -> dict[str, Any]:
        self._require(output_id, "outputs")
        return self.fire(OUTPUT_ACTIVATED if active else OUTPUT_DEACTIVATED, f"outputs/{output_id}")

    async def _events_post(self, request: web.Request) -> web.Response:
        body = await _rest_json(request)
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
