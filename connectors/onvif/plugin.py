"""The ONVIF connector as a vmsbridge plug-in (entry point ``vmsbridge.connectors: onvif``).

Loaded whenever the command line is built, so only the standard library is imported here; its
config model and checks (``config``) and subcommands (``cli``) are found when first asked for.
"""

from __future__ import annotations

__all__ = ["PLUGIN", "OnvifPlugin"]

from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING

from vmsbridge.capabilities import CLIPS, EVENTS, HEALTH, PTZ
from vmsbridge.plugins import ConnectorPackage

if TYPE_CHECKING:
    from vmsbridge.config import SiteConfig, SiteDirectory
    from vmsbridge.plugins import ConnectorPlugin, ConnectorSet, EmulatedConnectors


class OnvifPlugin(ConnectorPackage):
    kind = "onvif"
    summary = "ONVIF devices: PullPoint events, PTZ presets, device I/O and doors, recorded clips"
    capabilities = frozenset({EVENTS, PTZ, CLIPS, HEALTH})
    package = "connectors.onvif"

    def build(self, site: SiteConfig, directory: SiteDirectory, work_dir: Path) -> ConnectorSet:
        from connectors.onvif.control import build_onvif_controls
        from connectors.onvif.source import build_onvif_sources
        from vmsbridge.plugins import ConnectorSet

        return ConnectorSet(
            build_onvif_sources(site, directory), build_onvif_controls(site, work_dir / "clips")
        )

    def emulate(
        self, site: SiteConfig, clip: Path | None, secret_file: Path, user: str
    ) -> AbstractAsyncContextManager[EmulatedConnectors]:
        from connectors.onvif.lab import emulated_onvif

        return emulated_onvif(site, clip, secret_file, user)


PLUGIN: ConnectorPlugin = OnvifPlugin()
