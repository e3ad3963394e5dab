"""What the core expects of anything that produces events, and the registry that builds them.

The core never imports a connector by name: connector packages register a factory here keyed by
their config section, and :func:`build_sources` builds whatever the site configuration asks for.
"""

from __future__ import annotations

__all__ = ["ClipNotFound", "ClipSource", "EventSource", "SourceFactory", "SourceRegistry"]

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Protocol

from vmsbridge.bus import EventSink
from vmsbridge.config import SiteConfig, SiteDirectory
from vmsbridge.errors import VmsBridgeError

log = logging.getLogger(__name__)


class EventSource(Protocol):
    """A long-lived producer of events (a connector, a scenario, a file)."""

    name: str

    async def run(self, bus: EventSink) -> None:
        """Publish events until done or cancelled; reconnecting is the source's own business."""
        ...


class ClipNotFound(VmsBridgeError, LookupError):
    """No clip for that camera and time window arrived in time."""


class ClipSource(Protocol):
    """Where video for a camera and a time window comes from (a VMS export, a recorded stream)."""

    async def fetch_clip(self, camera_id: str, start: datetime, end: datetime) -> Path:
        """A local file covering (part of) the window; raises :class:`ClipNotFound`."""
        ...


SourceFactory = Callable[[SiteConfig, SiteDirectory], list[EventSource]]


class SourceRegistry:
    """Factories by connector kind (``onvif``, ``xprotect``); filled by whoever builds the app."""

    def __init__(self) -> None:
        self._factories: dict[str, SourceFactory] = {}

    def register(self, kind: str, factory: SourceFactory) -> None:
        if kind in self._factories:
            raise ValueError(f"a source factory for {kind!r} is already registered")
        self._factories[kind] = factory

    def build(self, site: SiteConfig, directory: SiteDirectory) -> tuple[list[EventSource], list[str]]:
        """Sources for every configured connector, and the configured kinds nobody can build."""
        configured = {
            "onvif": bool(site.connectors.onvif),
            "xprotect": bool(site.connectors.xprotect),
        }
        sources: list[EventSource] = []
        missing = []
        for kind, present in configured.items():
            if not present:
                continue
            factory = self._factories.get(kind)
            if factory is None:
                missing.append(kind)
                continue
            sources.extend(factory(site, directory))
        return sources, missing
