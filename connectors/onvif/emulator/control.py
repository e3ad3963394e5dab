"""The JSON control surface under ``/control/`` on every device port: fire events, set inputs,
reboot, shift the clock, switch quirks and read the device's state.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from aiohttp import web

from connectors.emulation import control_body, control_error
from connectors.onvif.emulator.events import EventTriggers

__all__ = ["ControlSurface"]


class ControlSurface(EventTriggers):
    """Handlers of the ``/control/`` endpoints (no authentication)."""

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
