"""The event bus between sources and the ingest stage.

A publisher submits a payload and gets a future that resolves to an :class:`IngestOutcome` only
once the payload is durable (stored, recognised as a replay, or stored as rejected input). The
in-process implementation is a bounded queue: when ingest falls behind, ``submit`` waits, which
is the backpressure that keeps memory bounded. A NATS JetStream implementation fills the same
protocol across machines (publish = JetStream publish, fetch = pull-consumer fetch, settle = ack).
"""

from __future__ import annotations

__all__ = [
    "BusClosed",
    "Delivery",
    "EventBus",
    "EventPayload",
    "EventSink",
    "InProcessBus",
    "publish_durably",
]

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from vmsbridge.errors import VmsBridgeError
from vmsbridge.model import Event, IngestOutcome

log = logging.getLogger(__name__)

EventPayload = Event | Mapping[str, Any]


class BusClosed(VmsBridgeError):
    """The bus is shutting down; the payload was not accepted and must be re-sent later."""


@dataclass
class Delivery:
    """One payload on its way to ingest, with the means to tell its publisher what happened.

    ``settled`` is the bus's own record that ingest is done with it: the publisher's future may
    be cancelled (a source stopped while it waits), and the payload is still queued and stored.
    """

    payload: EventPayload
    _done: asyncio.Future[IngestOutcome] = field(repr=False)
    settled: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future(), repr=False
    )

    def settle(self, outcome: IngestOutcome) -> None:
        if not self._done.done():
            self._done.set_result(outcome)
        self._settled()

    def fail(self, error: BaseException) -> None:
        if not self._done.done():
            self._done.set_exception(error)
        self._settled()

    def _settled(self) -> None:
        if not self.settled.done():
            self.settled.set_result(None)


class EventSink(Protocol):
    """The publishing side of the bus: what a source needs."""

    async def submit(self, payload: EventPayload) -> asyncio.Future[IngestOutcome]:
        """Queue a payload (waiting while the bus is full); the future resolves when it is durable."""
        ...


class EventBus(EventSink, Protocol):
    async def fetch(self, max_items: int) -> list[Delivery]:
        """Wait for at least one delivery; return up to ``max_items`` without waiting further."""
        ...


async def publish_durably(sink: EventSink, payloads: Sequence[EventPayload]) -> list[IngestOutcome]:
    """Submit every payload, then wait until all are durable; the outcomes in order.

    Sources call this before asking their device for more: what is not yet stored stays with the
    device, which is the backpressure a real device understands.
    """
    futures = [await sink.submit(p) for p in payloads]
    return list(await asyncio.gather(*futures))


class InProcessBus:
    def __init__(self, capacity: int = 10_000) -> None:
        if capacity < 1:
            raise ValueError("bus capacity must be at least 1")
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue(maxsize=capacity)
        self._closed = False
        # Queued or being stored, whether or not its publisher still waits for it.
        self._unsettled: set[asyncio.Future[None]] = set()
        self.capacity = capacity
        self.full_waits = 0  # times a publisher had to wait for room: a sign ingest is behind
        # Called with every payload as it is submitted, before it queues for ingest: for the
        # few reactions that must not wait for a commit (a PTZ camera turning to a caller).
        # A tap must be quick; what has to be durable waits for the store.
        self.taps: list[Callable[[EventPayload], None]] = []

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    async def submit(self, payload: EventPayload) -> asyncio.Future[IngestOutcome]:
        if self._closed:
            raise BusClosed("the event bus is closed")
        for tap in self.taps:
            try:
                tap(payload)
            except Exception:  # a tap's bug must not cost the event its durable path
                log.exception("a bus tap failed; the payload goes on to be stored")
        done: asyncio.Future[IngestOutcome] = asyncio.get_running_loop().create_future()
        delivery = Delivery(payload, done)
        if self._queue.full():
            self.full_waits += 1
        self._unsettled.add(delivery.settled)
        delivery.settled.add_done_callback(self._unsettled.discard)
        try:
            await self._queue.put(delivery)
        except BaseException:
            done.cancel()  # never queued: nobody must wait for it
            delivery.settled.cancel()
            raise
        if self.closed:
            # Closed while we waited for room: close() has already emptied the queue.
            delivery.fail(BusClosed("the event bus closed before this payload was stored"))
        return done

    async def drain(self, within: float) -> bool:
        """Wait until everything submitted so far is settled; False if ``within`` seconds ran out first."""
        if not self._unsettled:
            return True
        _, pending = await asyncio.wait(set(self._unsettled), timeout=within)
        return not pending

    async def publish(self, payload: EventPayload) -> IngestOutcome:
        """Submit and wait until the payload is durable."""
        return await (await self.submit(payload))

    async def fetch(self, max_items: int) -> list[Delivery]:
        batch = [await self._queue.get()]
        while len(batch) < max_items:
            try:
                batch.append(self._queue.get_nowait())
            except asyncio.QueueEmpty:
                break
        return batch

    def close(self) -> None:
        """Refuse new payloads and fail the queued ones, so no publisher believes they were stored."""
        self._closed = True
        while True:
            try:
                delivery = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            delivery.fail(BusClosed("the event bus closed before this payload was stored"))
