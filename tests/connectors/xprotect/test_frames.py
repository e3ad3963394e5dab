"""Events & State frames no gateway should send, over a real WebSocket on loopback: each is logged
and counted, and the events around it still arrive."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from connectors.xprotect.events import EVENT_BATCHES_QUEUED, EssConnection, EssStats
from tests.connectors.conftest import WAIT

LIMIT = 1024 * 1024  # the client's frame limit in this test (the connector's own is 16 MiB)


def frame(*events: object) -> str:
    return json.dumps({"events": list(events)})


FRAMES = [
    frame({"id": "1", "type": "motion"}),
    '{"events": ' + "[" * 100_000 + "]" * 100_000 + "}",  # deeper than any parser goes
    frame({"id": "2", "data": json.loads("[" * 70 + "]" * 70)}, {"id": "3", "type": "motion"}),
    frame({"id": "4", "type": "motion"}),
    frame({"id": "5", "data": "x" * (LIMIT + 100)}),  # too large: the socket is closed after it
]


@pytest.fixture
async def gateway_socket() -> AsyncIterator[str]:
    async def events(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        for text in FRAMES:
            await ws.send_str(text)
        async for _ in ws:  # until the client closes
            pass
        return ws

    app = web.Application()
    app.router.add_get("/events", events)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/events"
    finally:
        await runner.cleanup()


async def test_deep_and_oversized_frames_are_logged_and_the_events_around_them_arrive(
    gateway_socket: str, caplog: pytest.LogCaptureFixture
) -> None:
    stats = EssStats()
    with caplog.at_level(logging.WARNING, logger="connectors.xprotect.events"):
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(gateway_socket, max_msg_size=LIMIT)
            async with EssConnection(ws, "xprotect-test", stats) as connection:

                async def received() -> list[list[dict[str, object]]]:
                    return [batch async for batch in connection.events()]

                batches = await asyncio.wait_for(received(), WAIT)
    assert [[e["id"] for e in batch] for batch in batches] == [["1"], ["3"], ["4"]]
    assert (stats.malformed_frames, stats.refused_frames) == (2, 1)
    messages = [r.getMessage() for r in caplog.records]
    assert any("malformed frame (nested too deeply to read)" in m for m in messages)
    assert any("malformed frame (an event nested deeper than 64 levels)" in m for m in messages)
    assert any(f"exceeds limit {LIMIT}" in m and "frame refused" in m for m in messages), messages


BEFORE_REPLY = 3 * EVENT_BATCHES_QUEUED  # pushed while the session is being set up
AFTER_REPLY = 10 * EVENT_BATCHES_QUEUED


@pytest.fixture
async def pushing_gateway() -> AsyncIterator[str]:
    """Answers the first command only after pushing many events, then pushes many more at once."""

    async def events(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        command = json.loads((await ws.receive()).data)
        for n in range(BEFORE_REPLY):
            await ws.send_str(frame({"id": str(n)}))
        await ws.send_str(json.dumps({"commandId": command["commandId"], "status": 201, "sessionId": "s"}))
        for n in range(BEFORE_REPLY, BEFORE_REPLY + AFTER_REPLY):
            await ws.send_str(frame({"id": str(n)}))
        async for _ in ws:  # until the client closes
            pass
        return ws

    app = web.Application()
    app.router.add_get("/events", events)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/events"
    finally:
        await runner.cleanup()


async def test_a_slow_handler_holds_the_reader_back_and_every_event_arrives_in_order(
    pushing_gateway: str,
) -> None:
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(pushing_gateway)
        async with EssConnection(ws, "xprotect-test", EssStats()) as connection:
            # The reply comes behind more events than the bound: setting up is never held back.
            reply = await asyncio.wait_for(connection.command("startSession"), WAIT)
            assert reply["status"] == 201

            async def read_up(count: int) -> None:
                while connection.queued < count:  # noqa: ASYNC110 - watches the reader fill its buffer
                    await asyncio.sleep(0.01)

            await asyncio.wait_for(read_up(BEFORE_REPLY), WAIT)  # awaits: the surplus read before live
            batches = connection.events()
            ids = [int((await anext(batches))[0]["id"]) for _ in range(BEFORE_REPLY)]
            # The handler was blocked while the rest was pushed: at most the bound was read ahead.
            await asyncio.wait_for(read_up(EVENT_BATCHES_QUEUED), WAIT)  # awaits: the reader refilling
            most = connection.queued
            while len(ids) < BEFORE_REPLY + AFTER_REPLY:
                ids.append(int((await asyncio.wait_for(anext(batches), WAIT))[0]["id"]))
                most = max(most, connection.queued)
    assert most <= EVENT_BATCHES_QUEUED
    assert ids == list(range(BEFORE_REPLY + AFTER_REPLY))
