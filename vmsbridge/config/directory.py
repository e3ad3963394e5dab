"""Lookups derived once from a checked site file: devices by id, their locations, neighbours."""

from __future__ import annotations

__all__ = ["DeviceEntry", "SiteDirectory"]

from dataclasses import dataclass
from typing import Literal

from vmsbridge.config.site import SiteConfig


@dataclass(frozen=True)
class DeviceEntry:
    id: str
    kind: Literal["camera", "phone", "door", "io_module", "connector"]
    location_id: str


class SiteDirectory:
    """Lookups derived once from a checked :class:`SiteConfig`."""

    def __init__(self, site: SiteConfig) -> None:
        self.site = site
        self.locations = {loc.id: loc for loc in site.locations}
        # Adjacency goes both ways: a location lists its neighbours, and is theirs.
        neighbours: dict[str, set[str]] = {loc.id: set() for loc in site.locations}
        for loc in site.locations:
            for other in loc.adjacent:
                if other in neighbours and other != loc.id:
                    neighbours[loc.id].add(other)
                    neighbours[other].add(loc.id)
        self.adjacent = {loc_id: frozenset(ids) for loc_id, ids in neighbours.items()}
        entries: list[DeviceEntry] = [DeviceEntry(c.id, "camera", c.location) for c in site.cameras]
        entries += [DeviceEntry(p.id, "phone", p.location) for p in site.phones]
        entries += [DeviceEntry(d.id, "door", d.location) for d in site.doors]
        entries += [DeviceEntry(m.id, "io_module", m.location) for m in site.io_modules]
        # A connector reports things about itself too (ONVIF: unknown topics); with a location it can.
        entries += [
            DeviceEntry(c.id, "connector", c.location)
            for found in site.connectors.configured().values()
            for c in found
            if c.location
        ]
        self.devices = {e.id: e for e in entries}
        self.device_names: dict[str, str] = {c.id: c.name for c in site.cameras}
        self.device_names |= {p.id: p.name for p in site.phones}
        self.device_names |= {d.id: d.name for d in site.doors}
        self.device_names |= {m.id: m.name for m in site.io_modules}

    def location_of(self, device_id: str) -> str | None:
        entry = self.devices.get(device_id)
        return entry.location_id if entry else None
