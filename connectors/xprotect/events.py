"""The Events & State WebSocket: sessions, subscriptions, resume, and recording the gaps.

A session survives a dropped socket for the server's resume window (about 30 s): reconnecting
with the old ``sessionId`` and the id of the last event received gets status 200 and a replay of
what was missed, so there is no gap and (with idempotent ingest) no duplicate. Past the window
the server starts a new session (201): the connector subscribes again, asks ``getState`` for the
current states, and reports the time it could not see as a ``vms.gap``.

The same holds across a restart of the bridge when the source is given a memory (the bridge's
store): the session id, the last event id and when events were last seen are kept (at most once a
second while events flow, and on a clean stop), so the next run resumes the session or, past the
window, records the downtime as a ``vms.gap``. After a crash the kept position may be a moment
behind: the replay repeats a few events, which ingest drops by their ids.

Pushed events wait in a bounded buffer for the handler (which stores them). When the handler falls
behind, the reader stops reading the socket, so TCP backpressure reaches the gateway instead of
memory growing here. While a command waits for its reply the reader reads on regardless: the
reply (to ``startSession``, ``addSubscription``, ``getState``) arrives on the same socket behind
any events pushed meanwhile, and the handler only starts once the session is set up.
"""

from __future__ import annotations

__all__ = ["ALL_EVENTS", "EVENT_BATCHES_QUEUED", "EssLoop", "EssStats"]

import asyncio
import contextlib
import itertools
import json
import logging
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp

from connectors.xprotect.client import XProtectClient
from connectors.xprotect.errors import AuthenticationFailed, GatewayUnreachable, ProtocolError, XProtectError
from vmsbridge.backoff import Backoff
from vmsbridge.errors import StoreError
from vmsbridge.jsonlines import MAX_DEPTH, nesting_depth
from vmsbridge.sources import SourceMemory

log = logging.getLogger(__name__)

ALL_EVENTS = [{"modifier": "include", "resourceTypes": ["*"], "sourceIds": ["*"], "eventTypes": ["*"]}]
COMMAND_SECONDS = 15.0
KEEP_POSITION_SECONDS = 1.0  # how often, at most, the session position is written while events flow
POSITION_KEY = "events_socket"
EVENT_BATCHES_QUEUED = 64  # pushed frames read ahead of the handler, unless a reply is awaited

Json = dict[str, Any]
EventsHandler = Callable[[list[Json], str], Awaitable[None]]  # (events, why: "live" | "replay" | "state")
GapHandler = Callable[[datetime, datetime], Awaitable[None]]


@dataclass
class EssStats:
    connects: int = 0
    new_sessions: int = 0
    resumed_sessions: int = 0
    events: int = 0
    malformed_frames: int = 0
    refused_frames: int = 0  # refused by the socket itself (too large, protocol error); it then closes
    gaps: int = 0
    last_resume_seconds: float | None = None  # reconnect started -> session resumed
    errors: Counter[str] = field(default_factory=Counter)
    malformed_samples: list[str] = field(default_factory=list)


def _usable_events(items: list[Any]) -> tuple[list[Json], str | None]:
    """The items that can be events (objects with an id, nested no deeper than
    :data:`~vmsbridge.jsonlines.MAX_DEPTH`), and what was wrong with the others."""
    with_id = [e for e in items if isinstance(e, dict) and e.get("id") is not None]
    good = [e for e in with_id if nesting_depth(e) <= MAX_DEPTH]
    if len(with_id) != len(items):
        return good, "an event without an id"
    if len(good) != len(with_id):
        return good, f"an event nested deeper than {MAX_DEPTH} levels"
    return good, None


class EssConnection:
    """One socket: sends commands, matches replies by ``commandId``, yields pushed events."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, gateway_id: str, stats: EssStats) -> None:
        self._ws = ws
        self._gateway = gateway_id
        self._stats = stats
        self._ids = itertools.count(1)
        self._replies: dict[int, asyncio.Future[Json]] = {}
        self._batches: deque[list[Json]] = deque()
        self._has_batch = asyncio.Event()  # a batch is buffered, or the socket has closed
        self._has_room = asyncio.Event()
        self._closed = False
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> EssConnection:
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self._ws.close()

    async def command(self, name: str, **fields: Any) -> Json:
        command_id = next(self._ids)
        reply: asyncio.Future[Json] = asyncio.get_running_loop().create_future()
        self._replies[command_id] = reply
        self._has_room.set()  # a reader held back by the bound reads on to the reply
        try:
            await self._ws.send_str(json.dumps({"command": name, "commandId": command_id, **fields}))
            answer = await asyncio.wait_for(reply, COMMAND_SECONDS)
        except (ConnectionResetError, aiohttp.ClientError, TimeoutError) as exc:
            raise GatewayUnreachable(
                self._gateway, f"{name}: {type(exc).__name__}: {exc or 'no reply'}"
            ) from exc
        finally:
            self._replies.pop(command_id, None)
        status = int(answer.get("status", 0) or 0)
        if not 200 <= status < 300:
            text = (
                (answer.get("error") or {}).get("errorText")
                if isinstance(answer.get("error"), dict)
                else None
            )
            raise ProtocolError(self._gateway, f"{name} refused: status {status}: {text or answer}")
        return answer

    @property
    def queued(self) -> int:
        """Event batches read from the socket and not yet taken by :meth:`events`."""
        return len(self._batches)

    async def events(self) -> AsyncIterator[list[Json]]:
        """The pushed event batches in order, until the socket closes."""
        while True:
            while not self._batches:
                if self._closed:
                    return
                self._has_batch.clear()
                await self._has_batch.wait()
            batch = self._batches.popleft()
            if len(self._batches) < EVENT_BATCHES_QUEUED:
                self._has_room.set()
            yield batch

    async def _read(self) -> None:
        try:
            async for message in self._ws:
                if message.type is aiohttp.WSMsgType.ERROR:
                    # aiohttp closes the socket after this (an oversized frame, a protocol error);
                    # the loop reconnects and resumes, but what went wrong is said here.
                    self._stats.refused_frames += 1
                    log.warning("XProtect %s: frame refused (%s); reconnecting", self._gateway, message.data)
                    continue
                if message.type is not aiohttp.WSMsgType.TEXT:
                    continue
                batch = self._dispatch(message.data)
                if batch:
                    await self._keep(batch)
        finally:
            closed = GatewayUnreachable(self._gateway, "events socket closed")
            for reply in self._replies.values():
                if not reply.done():
                    reply.set_exception(closed)
            self._closed = True
            self._has_batch.set()

    async def _keep(self, batch: list[Json]) -> None:
        # Waiting here stops the reading of the socket: aiohttp then stops reading from TCP.
        while not self._replies and len(self._batches) >= EVENT_BATCHES_QUEUED:
            self._has_room.clear()
            await self._has_room.wait()
        self._batches.append(batch)
        self._has_batch.set()

    def _dispatch(self, text: str) -> list[Json] | None:
        """Settle a command's reply, or return the pushed events the frame carries."""
        try:
            message = json.loads(text)
        except ValueError:
            self._malformed(text, "not JSON")
            return None
        except RecursionError:
            self._malformed(text, "nested too deeply to read")
            return None
        if not isinstance(message, dict):
            self._malformed(text, "not a JSON object")
            return None
        command_id = message.get("commandId")
        if command_id is not None and command_id in self._replies:
            # Settled and forgotten at once: with no reply awaited, the bound applies again.
            reply = self._replies.pop(command_id)
            if not reply.done():
                reply.set_result(message)
            return None
        events = message.get("events")
        if not isinstance(events, list):
            self._malformed(text, "no 'events' list")
            return None
        good, problem = _usable_events(events)
        if problem:
            self._malformed(text, problem)
        return good

    def _malformed(self, text: str, why: str) -> None:
        self._stats.malformed_frames += 1
        if len(self._stats.malformed_samples) < 20:
            self._stats.malformed_samples.append(text[:2000])
        log.warning("XProtect %s: malformed frame (%s), kept and skipped: %.300s", self._gateway, why, text)


class EssLoop:
    def __init__(
        self,
        client: XProtectClient,
        handle: EventsHandler,
        on_gap: GapHandler,
        *,
        backoff: Backoff | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._client = client
        self._handle = handle
        self._on_gap = on_gap
        self._backoff = backoff or Backoff(1.0, 60.0)
        self._clock = clock
        self.session_id: str | None = None
        self.last_event_id: str | None = None
        self.stats = EssStats()
        self.connected = asyncio.Event()
        self.last_error: XProtectError | None = None
        self.memory: SourceMemory | None = None  # where the session's position outlives the bridge
        self._next_keep = 0.0

    async def run(self) -> None:
        lost_at = await self._recall_position()
        lost_monotonic: float | None = None
        try:
            await self._run(lost_at, lost_monotonic)
        finally:
            if self.connected.is_set():
                # A clean stop: what we saw last is exact, so a restart within the server's
                # resume window replays only what it missed.
                await self._keep_position()

    async def _run(self, lost_at: datetime | None, lost_monotonic: float | None) -> None:
        while True:
            try:
                ws = await self._client.websocket()
                self.stats.connects += 1
                async with EssConnection(ws, self._client.gateway_id, self.stats) as connection:
                    await self._start_session(connection, lost_at, lost_monotonic)
                    lost_at = lost_monotonic = None
                    await self._keep_position()
                    self.connected.set()
                    self._backoff.reset()
                    async for events in connection.events():
                        await self._deliver(events, "live")
                # the server closed the socket: reconnect at once (and resume)
                self.stats.errors["closed"] += 1
                delay = 0.0
            except AuthenticationFailed as exc:
                delay = self._failed(exc, logging.ERROR)
            except XProtectError as exc:
                delay = self._failed(exc, logging.WARNING)
            self.connected.clear()
            if lost_at is None:
                lost_at, lost_monotonic = self._clock(), time.monotonic()
            if delay:
                await asyncio.sleep(delay)

    def _failed(self, exc: XProtectError, level: int) -> float:
        self.last_error = exc
        self.stats.errors[type(exc).__name__] += 1
        delay = self._backoff.next()
        log.log(level, "%s; reconnecting in %.1f s", exc, delay)
        return delay

    async def _start_session(
        self, connection: EssConnection, lost_at: datetime | None, lost_monotonic: float | None
    ) -> None:
        reply = await connection.command(
            "startSession", sessionId=self.session_id or "", eventId=self.last_event_id or ""
        )
        if reply.get("status") == 200 and self.session_id:
            # Resumed: the server replays what we missed right after this reply, as live pushes.
            self.stats.resumed_sessions += 1
            if lost_monotonic is not None:
                self.stats.last_resume_seconds = time.monotonic() - lost_monotonic
            log.info("XProtect %s: session %s resumed", self._client.gateway_id, self.session_id)
            return
        had_session = self.session_id is not None
        self.session_id = str(reply.get("sessionId") or "")
        self.last_event_id = None
        self.stats.new_sessions += 1
        await connection.command("addSubscription", filters=ALL_EVENTS)
        state = await connection.command("getState")
        listed = state.get("states")
        states, problem = _usable_events(listed if isinstance(listed, list) else [])
        if problem:
            log.warning("XProtect %s: getState: %s; skipped", self._client.gateway_id, problem)
        if had_session and lost_at is not None:
            self.stats.gaps += 1
            await self._on_gap(lost_at, self._clock())
        if states:
            await self._handle(states, "state")

    async def _deliver(self, events: list[Json], why: str) -> None:
        self.stats.events += len(events)
        await self._handle(events, why)
        self.last_event_id = str(events[-1]["id"])
        if time.monotonic() >= self._next_keep:
            await self._keep_position()

    # -- the position kept across restarts ------------------------------------------------------

    async def _recall_position(self) -> datetime | None:
        """Session and last event id as the previous run left them, and when it last saw events
        (None when there was no previous run: nothing was missed that we could know about)."""
        if self.memory is None:
            return None
        try:
            kept = await self.memory.recall(POSITION_KEY)
        except StoreError as exc:
            log.warning(
                "XProtect %s: kept position unreadable (%s); a new session", self._client.gateway_id, exc
            )
            return None
        if not kept or not isinstance(kept.get("session_id"), str) or not kept["session_id"]:
            return None
        try:
            seen_at = datetime.fromisoformat(str(kept.get("seen_at")))
        except ValueError:
            log.warning("XProtect %s: kept position has no usable seen_at; ignored", self._client.gateway_id)
            return None
        self.session_id = kept["session_id"]
        last = kept.get("last_event_id")
        self.last_event_id = last if isinstance(last, str) and last else None
        return seen_at if seen_at.tzinfo is not None else None

    async def _keep_position(self) -> None:
        """Write the session and position; at most once per :data:`KEEP_POSITION_SECONDS` while
        events flow. A position a little behind only costs a replay, which ingest absorbs."""
        if self.memory is None or not self.session_id:
            return
        self._next_keep = time.monotonic() + KEEP_POSITION_SECONDS
        position = {
            "session_id": self.session_id,
            "last_event_id": self.last_event_id or "",
            "seen_at": self._clock().isoformat(),
        }
        try:
            await self.memory.keep(POSITION_KEY, position)
        except StoreError as exc:  # events still flow; only a restart would miss the position
            log.warning("XProtect %s: position not kept: %s", self._client.gateway_id, exc)
