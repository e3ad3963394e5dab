"""A site's whole device estate on loopback: every connector served by its emulator.

Used by ``vmsbridge demo`` and the end-to-end tests: the site configuration is copied with each
connector pointed at its emulator (127.0.0.1, an ephemeral port) and a one-time password kept in
a file, so the bridge runs its real clients over real SOAP, REST and WebSocket traffic.
"""

from __future__ import annotations

__all__ = ["EmulatedSite", "emulated_site"]

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from connectors.onvif.emulator import EmulatedDevice, OnvifEmulator
from connectors.onvif.sitedevices import emulated_devices
from connectors.xprotect.emulator import XProtectEmulator
from connectors.xprotect.sitespec import emulated_gateway
from vmsbridge.config import ConnectorsConfig, SiteConfig

LAB_USER = "vmsbridge-lab"


@dataclass
class EmulatedSite:
    site: SiteConfig  # the configuration pointed at the emulators
    onvif: OnvifEmulator
    xprotect: dict[str, XProtectEmulator]  # by connector id

    def device(self, connector_id: str) -> EmulatedDevice:
        return self.onvif.device(connector_id)


def write_secret(path: Path, secret: str) -> None:
    """``secret`` and a newline in ``path``, readable by its owner only from the start."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a file already there keeps its mode otherwise
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(secret + "\n")


@asynccontextmanager
async def emulated_site(
    site: SiteConfig, clip: Path | None, secrets_dir: Path
) -> AsyncIterator[EmulatedSite]:
    password = secrets.token_urlsafe(18)
    secret_file = secrets_dir / "lab-password"
    await asyncio.to_thread(write_secret, secret_file, password)
    async with AsyncExitStack() as stack:
        onvif = await stack.enter_async_context(
            OnvifEmulator(emulated_devices(site, clip=clip), username=LAB_USER, password=password)
        )
        gateways: dict[str, XProtectEmulator] = {}
        for connector in site.connectors.xprotect:
            gateways[connector.id] = await stack.enter_async_context(
                XProtectEmulator(emulated_gateway(site, connector.id), username=LAB_USER, password=password)
            )
        onvif_sources = [
            c.model_copy(
                update={
                    "host": "127.0.0.1",
                    "port": onvif.device(c.id).port,
                    "username": LAB_USER,
                    "password_env": None,
                    "password_file": secret_file,
                }
            )
            for c in site.connectors.onvif
        ]
        xprotect_sources = [
            c.model_copy(
                update={
                    "url": gateways[c.id].url,
                    "username": LAB_USER,
                    "password_env": None,
                    "password_file": secret_file,
                    "ca_file": None,
                    "insecure_skip_verify": False,
                }
            )
            for c in site.connectors.xprotect
        ]
        pointed = site.model_copy(
            update={"connectors": ConnectorsConfig(onvif=onvif_sources, xprotect=xprotect_sources)}
        )
        yield EmulatedSite(pointed, onvif, gateways)
