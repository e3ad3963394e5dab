"""The JSON control surface under ``/control/`` (no authentication): fire events, expire tokens
and sessions, drop sockets, push malformed frames, switch quirks and settings, read the state.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from connectors.emulation import control_body, control_error
from connectors.xprotect.emulator.events import EventFiring

__all__ = ["ControlSurface"]


class ControlSurface(EventFiring):
    """Handlers of the ``/control/`` endpoints."""

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
