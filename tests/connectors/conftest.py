"""Helpers shared by connector tests: an event sink that tests can await, and bounded waits."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import Callable

from tests.conftest import ROOT
from vmsbridge.bus import EventPayload
from vmsbridge.model import Event, EventKind, IngestOutcome

WAIT = 15.0  # upper bound on any single wait; a healthy run takes a fraction of it


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


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive ports free on loopback right now."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            first = int(probe.getsockname()[1])
        if first + count >= 65_000:
            continue
        sockets = [socket.socket() for _ in range(count)]
        try:
            for offset, sock in enumerate(sockets):
                sock.bind(("127.0.0.1", first + offset))
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
        return first
    raise RuntimeError(f"no {count} consecutive free ports on loopback")


# Lab passwords for the emulators, handed to child processes the way an operator would.
LAB_ENV = {**os.environ, "VMSBRIDGE_ONVIF_PASSWORD": "admin", "VMSBRIDGE_XPROTECT_PASSWORD": "admin"}


async def vmsbridge(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "vmsbridge",
        *args,
        cwd=ROOT,
        env=LAB_ENV,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def read_line(process: asyncio.subprocess.Process) -> str:
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), WAIT)
    assert line, f"process ended early: {(await process.stderr.read()).decode() if process.stderr else ''}"
    return line.decode()
