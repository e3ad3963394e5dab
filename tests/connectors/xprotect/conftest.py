"""Fixtures: the example campus's XProtect gateway, emulated on loopback, and a source on it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from connectors.xprotect.config import XProtectSource, xprotect_connectors
from connectors.xprotect.emulator import XProtectEmulator
from connectors.xprotect.sitespec import emulated_gateway
from connectors.xprotect.source import XProtectEventSource
from tests.connectors.conftest import WAIT, CollectingBus
from vmsbridge.backoff import Backoff
from vmsbridge.bus import EventSink
from vmsbridge.config import SiteConfig, SiteDirectory


@pytest.fixture
async def gateway(site: SiteConfig) -> AsyncIterator[XProtectEmulator]:
    async with XProtectEmulator(emulated_gateway(site, "xprotect-main")) as emulator:
        yield emulator


@pytest.fixture
def connector(site: SiteConfig, gateway: XProtectEmulator) -> XProtectSource:
    return xprotect_connectors(site)[0].model_copy(
        update={"url": gateway.url, "username": "admin", "alarm_poll_seconds": 0.1}
    )


class Running:
    def __init__(self) -> None:
        self.tasks: list[asyncio.Task[None]] = []

    async def start(
        self,
        connector: XProtectSource,
        site: SiteConfig,
        *,
        password: str = "admin",
        wait: bool = True,
        sink: EventSink | None = None,
    ) -> tuple[XProtectEventSource, CollectingBus]:
        """A running source; it publishes to ``sink`` if given, else to the returned collecting bus."""
        source = XProtectEventSource(connector, SiteDirectory(site), password, backoff=Backoff(0.05, 0.4))
        bus = CollectingBus()
        self.tasks.append(asyncio.create_task(source.run(sink or bus)))
        if wait:
            await asyncio.wait_for(source.ess.connected.wait(), WAIT)
        return source, bus

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for result in await asyncio.gather(*self.tasks, return_exceptions=True):
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                raise result


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    runner = Running()
    yield runner
    await runner.stop()
