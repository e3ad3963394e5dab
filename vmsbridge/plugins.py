"""The one core module that names connector packages: what each configured connector contributes."""

from __future__ import annotations

__all__ = ["ConnectorSet", "build_connectors", "connector_registry"]

import logging
from dataclasses import dataclass, field
from pathlib import Path

from vmsbridge.config import SiteConfig, SiteDirectory
from vmsbridge.controls import Controls
from vmsbridge.sources import EventSource, SourceRegistry

log = logging.getLogger(__name__)


@dataclass
class ConnectorSet:
    """What the configured connectors bring to the bridge: event sources, and controls for rules."""

    sources: list[EventSource] = field(default_factory=list)
    controls: Controls = field(default_factory=Controls)


def connector_registry() -> SourceRegistry:
    from connectors.onvif.source import build_onvif_sources
    from connectors.xprotect.source import build_xprotect_sources

    registry = SourceRegistry()
    registry.register("onvif", build_onvif_sources)
    registry.register("xprotect", build_xprotect_sources)
    return registry


def build_controls(site: SiteConfig, sources: list[EventSource], work_dir: Path) -> Controls:
    """What rules can make the configured connectors do (PTZ, alarms, clips)."""
    from connectors.onvif.control import build_onvif_controls
    from connectors.xprotect.control import build_xprotect_controls

    controls = build_onvif_controls(site, work_dir / "clips")
    controls.merge(build_xprotect_controls(site, sources))
    return controls


def build_connectors(site: SiteConfig, directory: SiteDirectory, work_dir: Path) -> ConnectorSet:
    """Sources and controls for every connector the site configures (nothing runs yet)."""
    sources, unavailable = connector_registry().build(site, directory)
    for kind in unavailable:
        log.warning("%s connectors are configured but this version cannot run them yet", kind)
    return ConnectorSet(sources, build_controls(site, sources, work_dir))
