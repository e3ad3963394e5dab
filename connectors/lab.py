"""A site's whole device estate on loopback, with typed access to the ONVIF and XProtect emulators.

A thin wrapper over :func:`vmsbridge.plugins.emulated_site` (which composes every plug-in's
emulators) for the end-to-end tests and the bench, which drive individual emulated devices.
"""

from __future__ import annotations

__all__ = ["LAB_USER", "EmulatedSite", "emulated_site"]

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from connectors.onvif.emulator import EmulatedDevice, OnvifEmulator
from connectors.xprotect.emulator import XProtectEmulator
from vmsbridge import plugins
from vmsbridge.config import SiteConfig
from vmsbridge.plugins import LAB_USER


@dataclass
class EmulatedSite:
    site: SiteConfig  # the configuration pointed at the emulators
    onvif: OnvifEmulator
    xprotect: dict[str, XProtectEmulator]  # by connector id

    def device(self, connector_id: str) -> EmulatedDevice:
        return self.onvif.device(connector_id)


@asynccontextmanager
async def emulated_site(
    site: SiteConfig, clip: Path | None, secrets_dir: Path
) -> AsyncIterator[EmulatedSite]:
    async with plugins.emulated_site(site, clip, secrets_dir) as lab:
        yield EmulatedSite(lab.site, lab.emulators["onvif"], lab.emulators["xprotect"])
