"""The site's XProtect API Gateways, emulated on loopback, and its XProtect connectors pointed at them."""

from __future__ import annotations

__all__ = ["emulated_xprotect"]

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connectors.xprotect.config import xprotect_connectors
from connectors.xprotect.emulator import XProtectEmulator
from connectors.xprotect.emulator.imageserver import ImageServerEmulator
from connectors.xprotect.emulator.recording import Recording
from connectors.xprotect.sitespec import emulated_gateway
from vmsbridge.config import SiteConfig, read_secret_file
from vmsbridge.plugins import EmulatedConnectors

RECORDED_BEFORE = timedelta(minutes=10)


@asynccontextmanager
async def emulated_xprotect(
    site: SiteConfig, secret_file: Path, user: str, clip: Path | None = None
) -> AsyncIterator[EmulatedConnectors]:
    """One emulated gateway per ``[[connectors.xprotect]]``; the handle is a dict by connector id.

    With ``clip``, each gateway's recording server has been recording it in a loop on every camera
    since :data:`RECORDED_BEFORE` before the start."""
    password = await asyncio.to_thread(read_secret_file, secret_file)
    async with AsyncExitStack() as stack:
        gateways: dict[str, XProtectEmulator] = {}
        for connector in xprotect_connectors(site):
            gateway = await stack.enter_async_context(
                XProtectEmulator(emulated_gateway(site, connector.id), username=user, password=password)
            )
            gateways[connector.id] = gateway
            if clip is not None:
                since = datetime.now(UTC) - RECORDED_BEFORE
                recording = await asyncio.to_thread(Recording, clip, since, passes=None)
                await stack.enter_async_context(
                    ImageServerEmulator(gateway, {camera.id: recording for camera in gateway.spec.cameras})
                )
        connectors = [
            c.model_copy(
                update={
                    "url": gateways[c.id].url,
                    "username": user,
                    "password_env": None,
                    "password_file": secret_file,
                    "ca_file": None,
                    "insecure_skip_verify": False,
                }
            )
            for c in xprotect_connectors(site)
        ]
        yield EmulatedConnectors(connectors, gateways, dict(gateways))
