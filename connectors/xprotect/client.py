"""XProtect API Gateway client: IDP tokens, configuration REST, tasks, events, alarms, bookmarks.

One :class:`XProtectClient` per gateway, used as an async context manager. The token is renewed
at 80 % of its lifetime; a 401 triggers exactly one re-authentication and retry, then a clear
error. TLS is verified by default (``ca_file`` for a campus CA; ``insecure`` only for labs).
"""

from __future__ import annotations

__all__ = ["Inventory", "XProtectClient"]

import asyncio
import json
import logging
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from connectors.xprotect.config import XProtectSource
from connectors.xprotect.errors import (
    ApiError,
    AuthenticationFailed,
    GatewayUnreachable,
    ProtocolError,
    XProtectError,
)

log = logging.getLogger(__name__)

TOKEN_PATH = "/API/IDP/connect/token"
REST = "/api/rest/v1"
WS_PATH = "/api/ws/events/v1"
TOKEN_REFRESH_SHARE = 0.8
TASK_POLL_SECONDS = 0.1
REQUEST_SECONDS = 30.0
MAX_BODY_BYTES = 16 * 1024 * 1024

Json = dict[str, Any]


@dataclass(frozen=True)
class Inventory:
    """What the VMS says it has (enabled and disabled), by id."""

    version: str
    cameras: dict[str, Json] = field(default_factory=dict)
    hardware: dict[str, Json] = field(default_factory=dict)
    inputs: dict[str, Json] = field(default_factory=dict)
    outputs: dict[str, Json] = field(default_factory=dict)
    user_defined_events: dict[str, Json] = field(default_factory=dict)
    event_types: dict[str, Json] = field(default_factory=dict)
    alarm_definitions: dict[str, Json] = field(default_factory=dict)


class XProtectClient:
    def __init__(
        self,
        gateway_id: str,
        base_url: str,
        username: str,
        password: str,
        *,
        ca_file: Path | None = None,
        insecure: bool = False,
    ) -> None:
        self.gateway_id = gateway_id
        self.base_url = base_url.rstrip("/")
        self._username = username
        self._password = password
        self._ssl: ssl.SSLContext | bool
        if insecure:
            log.warning("XProtect %s: TLS certificate verification is OFF (labs only)", gateway_id)
            self._ssl = False
        elif ca_file is not None:
            self._ssl = ssl.create_default_context(cafile=str(ca_file))
        else:
            self._ssl = True
        self._session: aiohttp.ClientSession | None = None
        self._token: str | None = None
        self._token_renew_at = 0.0
        self._token_lock = asyncio.Lock()
        self.tokens_issued = 0

    @classmethod
    def for_connector(cls, connector: XProtectSource, password: str) -> XProtectClient:
        return cls(
            connector.id,
            connector.url,
            connector.username,
            password,
            ca_file=connector.ca_file,
            insecure=connector.insecure_skip_verify,
        )

    async def __aenter__(self) -> XProtectClient:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._ssl),
                timeout=aiohttp.ClientTimeout(total=REQUEST_SECONDS),
            )
        await self.token()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise GatewayUnreachable(self.gateway_id, "client not opened")
        return self._session

    # -- tokens -------------------------------------------------------------------------------

    async def token(self, *, force: bool = False) -> str:
        """A valid bearer token, fetched or renewed as needed (never logged)."""
        async with self._token_lock:
            if force or self._token is None or time.monotonic() >= self._token_renew_at:
                await self._fetch_token()
            assert self._token is not None
            return self._token

    async def _fetch_token(self) -> None:
        form = {
            "grant_type": "password",
            "username": self._username,
            "password": self._password,
            "client_id": "GrantValidatorClient",
        }
        try:
            async with self.session.post(self.base_url + TOKEN_PATH, data=form) as response:
                body = await self._json_body(response, "token request")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise GatewayUnreachable(self.gateway_id, f"token request: {type(exc).__name__}: {exc}") from exc
        if response.status != 200 or "access_token" not in body:
            reason = body.get("error_description") or body.get("error") or f"HTTP {response.status}"
            code = f" ({body['error_code']})" if body.get("error_code") else ""
            raise AuthenticationFailed(
                self.gateway_id, f"the identity provider refused user {self._username!r}: {reason}{code}"
            )
        lifetime = float(body.get("expires_in") or 3600)
        self._token = str(body["access_token"])
        self._token_renew_at = time.monotonic() + lifetime * TOKEN_REFRESH_SHARE
        self.tokens_issued += 1

    # -- REST -----------------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Json | None = None,
        what: str = "",
    ) -> tuple[int, Json]:
        """One REST call with the bearer token; a 401 re-authenticates once and retries."""
        what = what or f"{method} {path}"
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {await self.token(force=attempt == 2)}"}
            try:
                async with self.session.request(
                    method, self.base_url + REST + path, params=params, json=body, headers=headers
                ) as response:
                    payload = await self._json_body(response, what)
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                raise GatewayUnreachable(self.gateway_id, f"{what}: {type(exc).__name__}: {exc}") from exc
            if response.status == 401 and attempt == 1:
                log.info(
                    "XProtect %s: token refused (%s); authenticating again",
                    self.gateway_id,
                    _error_text(payload),
                )
                continue
            if response.status >= 400:
                raise ApiError(self.gateway_id, response.status, _error_text(payload), what)
            return response.status, payload
        raise AssertionError("unreachable")

    async def _json_body(self, response: aiohttp.ClientResponse, what: str) -> Json:
        raw = await response.content.read(MAX_BODY_BYTES + 1)
        if len(raw) > MAX_BODY_BYTES:
            raise ProtocolError(self.gateway_id, f"{what}: reply larger than {MAX_BODY_BYTES} bytes")
        if not raw.strip():
            return {}
        try:
            payload = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ProtocolError(self.gateway_id, f"{what}: reply is not JSON ({exc})") from None
        if not isinstance(payload, dict):
            raise ProtocolError(
                self.gateway_id, f"{what}: reply is a JSON {type(payload).__name__}, not an object"
            )
        return payload

    async def get_list(self, resource: str, *, disabled: bool = False) -> list[Json]:
        _, payload = await self.request("GET", f"/{resource}", params={"disabled": ""} if disabled else None)
        items = payload.get("array")
        if not isinstance(items, list):
            raise ProtocolError(self.gateway_id, f"GET /{resource}: no 'array' in the reply")
        return [i for i in items if isinstance(i, dict)]

    async def get_item(self, resource: str, item_id: str) -> Json:
        _, payload = await self.request("GET", f"/{resource}/{item_id}")
        data = payload.get("data")
        if not isinstance(data, dict):
            raise ProtocolError(self.gateway_id, f"GET /{resource}/{item_id}: no 'data' in the reply")
        return data

    async def inventory(self) -> Inventory:
        async def by_id(resource: str) -> dict[str, Json]:
            return {str(i["id"]): i for i in await self.get_list(resource, disabled=True) if "id" in i}

        sites = await self.get_list("sites")
        version = str(sites[0].get("version", "")) if sites else ""
        names = [
            "cameras",
            "hardware",
            "inputEvents",
            "outputs",
            "userDefinedEvents",
            "eventTypes",
            "alarmDefinitions",
        ]
        results = await asyncio.gather(*(by_id(name) for name in names))
        return Inventory(version, *results)

    async def presets(self, camera_id: str) -> dict[str, str]:
        """Preset id -> name."""
        items = await self.get_list(f"cameras/{camera_id}/ptzPresets")
        return {
            str(i["id"]): str(i.get("name") or i.get("displayName") or i["id"]) for i in items if "id" in i
        }

    # -- tasks ----------------------------------------------------------------------------------

    async def tasks(self, path: str) -> list[str]:
        _, payload = await self.request("GET", f"/{path}", params={"tasks": "", "noData": ""})
        return [str(t["id"]) for t in payload.get("tasks", []) if isinstance(t, dict) and "id" in t]

    async def run_task(self, path: str, task: str, *, wait_seconds: float = 30.0) -> Json:
        """Start a task, poll it to the end, clean it up; the final task data, or ApiError."""
        _, started = await self.request(
            "POST",
            f"/{path}",
            params={"task": task},
            body={"sessionDataId": 0},
            what=f"task {task} on {path}",
        )
        result = started.get("result") or {}
        task_path = (result.get("path") or {}).get("id") if isinstance(result, dict) else None
        if not task_path:
            return result if isinstance(result, dict) else {}
        deadline = time.monotonic() + wait_seconds
        try:
            while True:
                data = await self.get_item("tasks", str(task_path))
                state = str(data.get("state", ""))
                if state == "Success":
                    return data
                if state in ("Error", "Failed"):
                    raise ApiError(
                        self.gateway_id, 200, str(data.get("errorText") or "task failed"), f"task {task}"
                    )
                if time.monotonic() > deadline:
                    raise ApiError(
                        self.gateway_id, 200, f"still {state!r} after {wait_seconds:.0f} s", f"task {task}"
                    )
                await asyncio.sleep(TASK_POLL_SECONDS)
        finally:
            try:
                await self.request("POST", f"/tasks/{task_path}", params={"task": "TaskCleanup"}, body={})
            except XProtectError as exc:
                log.debug("task cleanup failed: %s", exc)

    async def goto_preset(self, camera_id: str, preset_id: str, task: str | None = None) -> float:
        """Go to a PTZ preset through the REST task the server offers; returns seconds to completion."""
        path = f"cameras/{camera_id}/ptzPresets/{preset_id}"
        if task is None:
            offered = await self.tasks(path)
            task = next((t for t in offered if t.lower() in ("activate", "gotopreset", "goto")), None)
            if task is None:
                raise ApiError(self.gateway_id, 404, f"no go-to-preset task offered (tasks: {offered})", path)
        started = time.perf_counter()
        await self.run_task(path, task)
        return time.perf_counter() - started

    # -- events, alarms, bookmarks ----------------------------------------------------------

    async def trigger_event(self, event_type: str, source: str | None = None) -> Json:
        body: Json = {"type": event_type}
        if source:
            body["source"] = source
        _, payload = await self.request("POST", "/events", body=body, what=f"trigger event {event_type}")
        return dict(payload.get("data") or {})

    async def create_alarm(
        self, name: str, message: str, camera_id: str | None, priority: str | None = None
    ) -> str:
        body: Json = {"name": name, "message": message}
        if camera_id:
            body["source"] = camera_id
        if priority:
            body["priority"] = await self._lookup("alarmPriorities", priority)
        _, payload = await self.request("POST", "/alarms", body=body, what="create alarm")
        alarm_id = (payload.get("data") or {}).get("id")
        if not alarm_id:
            raise ProtocolError(self.gateway_id, "create alarm: no id in the reply")
        return str(alarm_id)

    async def update_alarm(
        self,
        alarm_id: str,
        *,
        state: str | None = None,
        priority: str | None = None,
        comment: str | None = None,
    ) -> Json:
        """``state`` and ``priority`` by name ("Closed", "High"); ids are looked up on the server."""
        body: Json = {}
        if state is not None:
            body["state"] = await self._lookup("alarmStates", state)
        if priority is not None:
            body["priority"] = await self._lookup("alarmPriorities", priority)
        if comment is not None:
            body["comment"] = comment
        _, payload = await self.request(
            "PATCH", f"/alarms/{alarm_id}", body=body, what=f"update alarm {alarm_id}"
        )
        return dict(payload.get("data") or {})

    async def alarms(self, size: int = 100) -> list[Json]:
        _, payload = await self.request("GET", "/alarms", params={"page": "0", "size": str(size)})
        return [a for a in payload.get("array", []) if isinstance(a, dict)]

    async def alarm(self, alarm_id: str) -> Json:
        return await self.get_item("alarms", alarm_id)

    async def _lookup(self, resource: str, name: str) -> Any:
        for item in await self.get_list(resource):
            if str(item.get("name", "")).lower() == name.lower():
                return item.get("id")
        raise ApiError(self.gateway_id, 404, f"{name!r} is not one of the server's {resource}", resource)

    async def create_bookmark(
        self, camera_id: str, header: str, description: str, begin: str, end: str
    ) -> str:
        body = {
            "header": header,
            "description": description,
            "timeBegin": begin,
            "timeEnd": end,
            "devicePath": {"type": "cameras", "id": camera_id},
        }
        _, payload = await self.request("POST", "/bookmarks", body=body, what="create bookmark")
        return str((payload.get("data") or payload.get("result") or {}).get("id", ""))

    # -- WebSocket ------------------------------------------------------------------------------

    async def websocket(self) -> aiohttp.ClientWebSocketResponse:
        """Open the Events & State socket; a refused token is renewed once."""
        url = self.base_url.replace("http", "ws", 1) + WS_PATH
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {await self.token(force=attempt == 2)}"}
            try:
                return await self.session.ws_connect(
                    url, headers=headers, heartbeat=30, max_msg_size=MAX_BODY_BYTES
                )
            except aiohttp.WSServerHandshakeError as exc:
                if exc.status == 401 and attempt == 1:
                    continue
                if exc.status == 401:
                    raise AuthenticationFailed(
                        self.gateway_id, "the events socket refused a fresh token"
                    ) from exc
                raise GatewayUnreachable(self.gateway_id, f"events socket: HTTP {exc.status}") from exc
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                raise GatewayUnreachable(
                    self.gateway_id, f"events socket: {type(exc).__name__}: {exc}"
                ) from exc
        raise AssertionError("unreachable")


def _error_text(payload: Json) -> str:
    error = payload.get("error")
    if isinstance(error, dict):
        details = error.get("details") or []
        texts = [str(d.get("errorText")) for d in details if isinstance(d, dict) and d.get("errorText")]
        return "; ".join(texts) or str(error.get("httpCode", "error"))
    if isinstance(error, str):
        return error
    return json.dumps(payload)[:300]
