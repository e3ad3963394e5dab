"""What the core expects of anything that produces events or clips.

Connectors implement these protocols; the core finds connectors through their plug-ins
(:mod:`vmsbridge.plugins`), never by importing them.
"""

from __future__ import annotations

__all__ = ["ClipNotFound", "ClipSource", "EventSource", "RemembersAcrossRestarts", "SourceMemory"]

from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from recording.result import ClipResult
from vmsbridge.bus import EventSink
from vmsbridge.errors import VmsBridgeError


class EventSource(Protocol):
    """A long-lived producer of events (a connector, a scenario, a file)."""

    name: str

    async def run(self, bus: EventSink) -> None:
        """Publish events until done or cancelled; reconnecting is the source's own business."""
        ...


class SourceMemory(Protocol):
    """Small JSON objects a source keeps across restarts of the bridge, by key (per source).
    Either call raises :class:`~vmsbridge.errors.StoreError` when the store cannot do it."""

    async def recall(self, key: str) -> dict[str, Any] | None:
        """What was kept under ``key``; None if nothing was."""
        ...

    async def keep(self, key: str, value: dict[str, Any]) -> None: ...


@runtime_checkable
class RemembersAcrossRestarts(Protocol):
    """A source that keeps state in the bridge's store; given its memory before it runs."""

    def remember_with(self, memory: SourceMemory) -> None: ...


class ClipNotFound(VmsBridgeError, LookupError):
    """No clip for that camera and time window arrived in time."""


class ClipSource(Protocol):
    """Where video for a camera and a time window comes from (a VMS export, a recorded stream)."""

    async def fetch_clip(self, camera_id: str, start: datetime, end: datetime) -> ClipResult:
        """A local file covering (part of) the window, with what it holds: its real start and end, the
        gaps inside it, and whether the source re-encoded it (``transcoded_by``); raises
        :class:`ClipNotFound`. Evidence keeps these facts with the file."""
        ...
