"""Alarms on the emulated gateway: raised by alarm definitions or ``POST /alarms``, listed,
read and changed over REST, with the alarm states and priorities.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from connectors.xprotect.emulator.ids import _ALARM_PRIORITIES, _ALARM_STATES, _Level
from connectors.xprotect.emulator.rest import _iso, _paging, _ref, _rest_json, _RestError, _split_source
from connectors.xprotect.emulator.state import GatewayState

__all__ = ["Alarms"]


class Alarms(GatewayState):
    """Alarm definitions matched against events, and the alarms REST endpoints."""

    def _match_alarm_definitions(self, event: Mapping[str, Any], when: datetime) -> None:
        kind, source_id = _split_source(str(event["source"]))
        for definition in self.spec.alarm_definitions:
            if definition.event_type.lower() != str(event["type"]).lower():
                continue
            if source_id not in definition.source_ids:
                continue
            if self.quirks.alarm_source_from_event:
                source: dict[str, str] | None = _ref(kind, source_id)
            elif definition.related_cameras:
                source = _ref("cameras", definition.related_cameras[0])
            else:
                source = _ref("cameras", source_id) if kind == "cameras" else None
            info = self._event_types.get(str(event["type"]).lower())
            self._create_alarm(
                name=definition.name,
                message=info.name if info is not None else str(event["type"]),
                source=source,
                priority=next(p for p in _ALARM_PRIORITIES if p.name == definition.priority),
                when=when,
            )

    def _create_alarm(
        self, *, name: str, message: str, source: dict[str, str] | None, priority: _Level, when: datetime
    ) -> dict[str, Any]:
        alarm_id = str(uuid.uuid4())
        alarm: dict[str, Any] = {
            "id": alarm_id,
            "localId": self._next_alarm,
            "name": name,
            "message": message,
            "source": source,
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

    def _shown(self, alarm: dict[str, Any]) -> dict[str, Any]:
        """An alarm as the gateway answers it (a copy)."""
        shown = copy.deepcopy(alarm)
        if self.quirks.alarm_levels_as_ids:
            shown["state"] = alarm["state"]["id"]
            shown["priority"] = alarm["priority"]["id"]
        return shown

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
        body = await _rest_json(request)
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
            name=name, message=message, source=_ref(kind, camera), priority=priority, when=datetime.now(UTC)
        )
        return web.json_response({"data": self._shown(alarm)}, status=202)

    async def _alarms_list(self, request: web.Request) -> web.Response:
        page, size = _paging(request.query)
        newest_first = list(reversed(self.alarms))
        return web.json_response(
            {"array": [self._shown(a) for a in newest_first[page * size : (page + 1) * size]]}
        )

    async def _alarms_get(self, request: web.Request) -> web.Response:
        return web.json_response({"data": self._shown(self._alarm(request))})

    async def _alarms_patch(self, request: web.Request) -> web.Response:
        alarm = self._alarm(request)
        body = await _rest_json(request)
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
        return web.json_response({"data": self._shown(alarm)}, status=202)

    async def _alarm_states(self, request: web.Request) -> web.Response:
        return web.json_response({"array": [s.item() for s in _ALARM_STATES]})

    async def _alarm_priorities(self, request: web.Request) -> web.Response:
        return web.json_response({"array": [p.item() for p in _ALARM_PRIORITIES]})
