"""Fixtures for connector tests: the example campus's ONVIF devices, emulated on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from connectors.onvif.emulator import OnvifEmulator
from connectors.onvif.events import PullSettings
from connectors.onvif.sitedevices import emulated_devices
from connectors.onvif.source import OnvifEventSource
from vmsbridge.bus import EventPayload
from vmsbridge.config import SiteConfig, SiteDirectory
from vmsbridge.model import Event, EventKind, IngestOutcome

WAIT = 15.0  # upper bound on any single wait; a healthy run takes a fraction of it
FAST = PullSettings(
    subscription_seconds=6, pull_timeout=1.0, message_limit=100, backoff_initial=0.05, backoff_max=0.4
)


class CollectingBus:
    """An EventBus that keeps what it is given and lets a test await a condition on it."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._changed = asyncio.Condition()

    async def submit(self, payload: EventPayload) -> asyncio.Future[IngestOutcome]:
        assert isinstance(payload, Event)
        async with self._changed:
            self.events.append(payload)
            self._changed.notify_all()
        done: asyncio.Future[IngestOutcome] = asyncio.get_running_loop().create_future()
        done.set_result(IngestOutcome("stored"))
        return done

    def of_kind(self, kind: EventKind) -> list[Event]:
        return [e for e in self.events if e.kind is kind]

    async def wait_for(self, predicate: Callable[[list[Event]], bool], within: float = WAIT) -> list[Event]:
        async def satisfied() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: predicate(self.events))

        await asyncio.wait_for(satisfied(), within)
        return self.events

    async def wait_kind(self, kind: EventKind, count: int = 1, within: float = WAIT) -> list[Event]:
        await self.wait_for(lambda events: sum(e.kind is kind for e in events) >= count, within)
        return self.of_kind(kind)


async def eventually(check: Callable[[], bool], within: float = WAIT, every: float = 0.02) -> None:
    """Await a condition on state we cannot subscribe to (emulator counters); bounded."""

    async def poll() -> None:
        while not check():  # noqa: ASYNC110 - the emulator's counters have no event to await
            await asyncio.sleep(every)

    await asyncio.wait_for(poll(), within)


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
    ) -> tuple[OnvifEventSource, CollectingBus]:
        device = self._emulator.device(device_id)
        connector = next(c for c in self._site.connectors.onvif if c.id == device_id)
        connector = connector.model_copy(
            update={"host": "127.0.0.1", "port": device.port, "username": "admin"}
        )
        source = OnvifEventSource(
            connector, SiteDirectory(self._site), password, settings=settings, health_interval=health
        )
        bus = CollectingBus()
        self._tasks.append(asyncio.create_task(source.run(bus)))
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
