"""Fixtures for connector tests: the example campus's ONVIF devices, emulated on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from connectors.onvif.config import onvif_connectors
from connectors.onvif.emulator import OnvifEmulator
from connectors.onvif.events import PullSettings
from connectors.onvif.sitedevices import emulated_devices
from connectors.onvif.source import OnvifEventSource
from tests.connectors.conftest import WAIT, CollectingBus
from vmsbridge.bus import EventSink
from vmsbridge.config import SiteConfig, SiteDirectory

FAST = PullSettings(
    subscription_seconds=6, pull_timeout=1.0, message_limit=100, backoff_initial=0.05, backoff_max=0.4
)


@pytest.fixture
async def emulator(site: SiteConfig) -> AsyncIterator[OnvifEmulator]:
    async with OnvifEmulator(emulated_devices(site)) as emu:
        yield emu


class SourceRunner:
    def __init__(self, emulator: OnvifEmulator, site: SiteConfig) -> None:
        self._emulator = emulator
        self._site = site
        self._tasks: list[asyncio.Task[None]] = []

    async def start(
        self,
        device_id: str,
        *,
        password: str = "admin",
        settings: PullSettings = FAST,
        health: float = 0.1,
        subscribed: bool = True,
        sink: EventSink | None = None,
    ) -> tuple[OnvifEventSource, CollectingBus]:
        """Run a source on the device; its events go to a CollectingBus, or to ``sink`` if given."""
        device = self._emulator.device(device_id)
        connector = next(c for c in onvif_connectors(self._site) if c.id == device_id)
        connector = connector.model_copy(
            update={"host": "127.0.0.1", "port": device.port, "username": "admin"}
        )
        source = OnvifEventSource(
            connector, SiteDirectory(self._site), password, settings=settings, health_interval=health
        )
        bus = CollectingBus()
        self._tasks.append(asyncio.create_task(source.run(sink or bus)))
        if subscribed:
            await asyncio.wait_for(source.loop.subscribed.wait(), WAIT)
        return source, bus

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        results: list[Any] = await asyncio.gather(*self._tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                raise result
        self._tasks.clear()


@pytest.fixture
async def sources(emulator: OnvifEmulator, site: SiteConfig) -> AsyncIterator[SourceRunner]:
    runner = SourceRunner(emulator, site)
    yield runner
    await runner.stop()
