"""The XProtect connector as a vmsbridge plug-in (entry point ``vmsbridge.connectors: xprotect``).

Loaded whenever the command line is built, so only the standard library is imported here; its
config model and checks (``config``) and subcommands (``cli``) are found when first asked for.
"""

from __future__ import annotations

__all__ = ["PLUGIN", "XProtectPlugin"]

from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING

from vmsbridge.capabilities import ALARMS, CLIPS, EVENTS, PTZ
from vmsbridge.plugins import ConnectorPackage

if TYPE_CHECKING:
    from vmsbridge.config import SiteConfig, SiteDirectory
    from vmsbridge.plugins import ConnectorPlugin, ConnectorSet, EmulatedConnectors


class XProtectPlugin(ConnectorPackage):
    kind = "xprotect"
    summary = "Milestone XProtect API Gateway: Events & State, alarms, user-defined events, PTZ, exports"
    capabilities = frozenset({EVENTS, PTZ, ALARMS, CLIPS})
    package = "connectors.xprotect"

    def build(self, site: SiteConfig, directory: SiteDirectory, work_dir: Path) -> ConnectorSet:
        from connectors.xprotect.control import build_xprotect_controls
        from connectors.xprotect.source import build_xprotect_sources
        from vmsbridge.plugins import ConnectorSet

        sources = build_xprotect_sources(site, directory)
        # Alarms and PTZ go through the source's signed-in client, so controls need the sources.
        return ConnectorSet(sources, build_xprotect_controls(site, sources, work_dir))

    def emulate(
        self, site: SiteConfig, clip: Path | None, secret_file: Path, user: str
    ) -> AbstractAsyncContextManager[EmulatedConnectors]:
        from connectors.xprotect.lab import emulated_xprotect

        return emulated_xprotect(site, secret_file, user, clip)


PLUGIN: ConnectorPlugin = XProtectPlugin()
