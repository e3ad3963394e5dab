"""Pieces the device emulators share: a loopback HTTP server's lifecycle, and switchable quirks."""

from __future__ import annotations

__all__ = ["LoopbackServer", "SwitchableQuirks", "control_body", "control_error"]

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web


class LoopbackServer:
    """One aiohttp application on one port (0: any free port), started and stopped explicitly."""

    def __init__(self, host: str, port: int, label: str) -> None:
        self._host = host
        self._requested_port = port
        self._label = label
        self._port: int | None = None
        self._runner: web.AppRunner | None = None

    @property
    def running(self) -> bool:
        return self._runner is not None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError(f"{self._label} is not started")
        return self._port

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8000``; a wildcard bind is advertised as loopback."""
        host = "127.0.0.1" if self._host in ("", "0.0.0.0") else self._host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    async def serve(self, app: web.Application) -> None:
        if self._runner is not None:
            raise RuntimeError(f"{self._label} is already started")
        # A short shutdown timeout: a delayed or parked request must not hold stop() for 60 s.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._requested_port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])

    async def shutdown(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()


class SwitchableQuirks:
    """Mixin for a quirks dataclass whose ``__post_init__`` validates every field."""

    def update(self, changes: Mapping[str, Any]) -> None:
        """Apply ``changes`` in place, all or nothing, after validating every field."""
        known = {f.name for f in dataclasses.fields(self)}  # type: ignore[arg-type]
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown quirk(s) {unknown}; known: {sorted(known)}")
        checked = dataclasses.replace(self, **changes)  # type: ignore[type-var]
        # In place, so code holding a reference to this object sees the change.
        for name in known:
            setattr(self, name, getattr(checked, name))


def control_error(message: str) -> web.HTTPBadRequest:
    """A 400 answer of the control surface, as JSON ``{"error": ...}``."""
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


async def control_body(request: web.Request) -> dict[str, Any]:
    """The JSON object a control request carries (an empty body is ``{}``); 400 otherwise."""
    try:
        payload = await request.json() if request.can_read_body else {}
    except ValueError as exc:
        raise control_error(f"body is not JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise control_error("body must be a JSON object")
    return payload
