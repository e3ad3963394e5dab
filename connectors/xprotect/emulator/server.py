"""The emulated XProtect API Gateway (:class:`XProtectEmulator`): its routes, the gateway
middleware (delays, token check, the http_500 quirk, the error shape) and its lifecycle.
"""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Handler

from connectors.xprotect.emulator.bookmarks import Bookmarks
from connectors.xprotect.emulator.config_rest import ConfigRest
from connectors.xprotect.emulator.control import ControlSurface
from connectors.xprotect.emulator.idp import _IDP_TOKEN_RE
from connectors.xprotect.emulator.rest import _RestError
from connectors.xprotect.emulator.vmslogin import LOGIN_PATH_RE, ServerCommandLogin

__all__ = ["REST_PREFIX", "WS_PATH", "XProtectEmulator"]

log = logging.getLogger(__name__)

REST_PREFIX: Final = "/api/rest/v1"
WS_PATH: Final = "/api/ws/events/v1"


class XProtectEmulator(ControlSurface, ConfigRest, Bookmarks, ServerCommandLogin):
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
        r.add_post(LOGIN_PATH_RE, self._soap_login)
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
