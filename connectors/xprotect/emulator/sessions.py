"""Events as fired, and the Events and State WebSocket's filters, sockets and resumable sessions.

Names with a leading underscore are shared by the emulator's modules only.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from connectors.xprotect.emulator.rest import _split_source

__all__ = []


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
