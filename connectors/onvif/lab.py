"""The site's ONVIF devices, emulated on loopback, and its ONVIF connectors pointed at them."""

from __future__ import annotations

__all__ = ["emulated_onvif"]

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from connectors.onvif.config import onvif_connectors
from connectors.onvif.emulator import OnvifEmulator
from connectors.onvif.sitedevices import emulated_devices
from vmsbridge.config import SiteConfig, read_secret_file
from vmsbridge.plugins import EmulatedConnectors


@asynccontextmanager
async def emulated_onvif(
    site: SiteConfig, clip: Path | None, secret_file: Path, user: str
) -> AsyncIterator[EmulatedConnectors]:
    """One emulated device per ``[[connectors.onvif]]`` (ephemeral ports), serving ``clip``."""
    password = await asyncio.to_thread(read_secret_file, secret_file)
    async with OnvifEmulator(emulated_devices(site, clip=clip), username=user, password=password) as onvif:
        connectors = [
            c.model_copy(
                update={
                    "host": "127.0.0.1",
                    "port": onvif.device(c.id).port,
                    "username": user,
                    "password_env": None,
                    "password_file": secret_file,
                }
            )
            for c in onvif_connectors(site)
        ]
        yield EmulatedConnectors(connectors, onvif, {d.spec.id: d for d in onvif.devices})
