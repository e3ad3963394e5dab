"""The XProtect connector as a vmsbridge plug-in (entry point ``vmsbridge.connectors: xprotect``).

Loaded whenever the command line is built, so only the standard library is imported here; each
method imports the connector itself when called.
"""

from __future__ import annotations

__all__ = ["PLUGIN", "XProtectPlugin"]

import argparse
from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vmsbridge.config import SiteConfig, SiteDirectory, XProtectSource
    from vmsbridge.errors import ConfigProblem
    from vmsbridge.plugins import ConnectorPlugin, ConnectorSet, EmulatedConnectors


class XProtectPlugin:
    kind = "xprotect"
    summary = "Milestone XProtect API Gateway: Events & State, alarms, user-defined events, PTZ, exports"
    capabilities = frozenset({"events", "ptz", "alarms", "clips"})

    def config_model(self) -> type[XProtectSource]:
        from vmsbridge.config import XProtectSource

        return XProtectSource

    def check(self, site: SiteConfig) -> Iterable[ConfigProblem]:
        return ()  # vmsbridge.config reads and checks [[connectors.xprotect]] itself

    def build(self, site: SiteConfig, directory: SiteDirectory, work_dir: Path) -> ConnectorSet:
        from connectors.xprotect.control import build_xprotect_controls
        from connectors.xprotect.source import build_xprotect_sources
        from vmsbridge.plugins import ConnectorSet

        sources = build_xprotect_sources(site, directory)
        # Alarms and PTZ go through the source's signed-in client, so controls need the sources.
        return ConnectorSet(sources, build_xprotect_controls(site, sources))

    def add_cli(self, sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
        from connectors.xprotect.cli import add_parser

        add_parser(sub)

    def add_emulate_cli(self, kinds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
        from connectors.xprotect.cli import add_emulate_parser

        add_emulate_parser(kinds)

    def emulate(
        self, site: SiteConfig, clip: Path | None, secret_file: Path, user: str
    ) -> AbstractAsyncContextManager[EmulatedConnectors]:
        from connectors.xprotect.lab import emulated_xprotect

        return emulated_xprotect(site, secret_file, user)


PLUGIN: ConnectorPlugin = XProtectPlugin()
