"""The ONVIF connector as a vmsbridge plug-in (entry point ``vmsbridge.connectors: onvif``).

Loaded whenever the command line is built, so only the standard library is imported here; each
method imports the connector itself when called.
"""

from __future__ import annotations

__all__ = ["PLUGIN", "OnvifPlugin"]

import argparse
from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vmsbridge.config import OnvifSource, SiteConfig, SiteDirectory
    from vmsbridge.errors import ConfigProblem
    from vmsbridge.plugins import ConnectorPlugin, ConnectorSet, EmulatedConnectors


class OnvifPlugin:
    kind = "onvif"
    summary = "ONVIF devices: PullPoint events, PTZ presets, device I/O and doors, recorded clips"
    capabilities = frozenset({"events", "ptz", "clips", "health"})

    def config_model(self) -> type[OnvifSource]:
        from vmsbridge.config import OnvifSource

        return OnvifSource

    def check(self, site: SiteConfig) -> Iterable[ConfigProblem]:
        return ()  # vmsbridge.config reads and checks [[connectors.onvif]] itself

    def build(self, site: SiteConfig, directory: SiteDirectory, work_dir: Path) -> ConnectorSet:
        from connectors.onvif.control import build_onvif_controls
        from connectors.onvif.source import build_onvif_sources
        from vmsbridge.plugins import ConnectorSet

        return ConnectorSet(
            build_onvif_sources(site, directory), build_onvif_controls(site, work_dir / "clips")
        )

    def add_cli(self, sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
        from connectors.onvif.cli import add_parser

        add_parser(sub)

    def add_emulate_cli(self, kinds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
        from connectors.onvif.cli import add_emulate_parser

        add_emulate_parser(kinds)

    def emulate(
        self, site: SiteConfig, clip: Path | None, secret_file: Path, user: str
    ) -> AbstractAsyncContextManager[EmulatedConnectors]:
        from connectors.onvif.lab import emulated_onvif

        return emulated_onvif(site, clip, secret_file, user)


PLUGIN: ConnectorPlugin = OnvifPlugin()
