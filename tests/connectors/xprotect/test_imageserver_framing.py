"""The ImageServer client against a hand-written peer that answers ``goto`` with bytes a test chooses."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import struct
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest

from connectors.xprotect.errors import GatewayUnreachable, ProtocolError, XProtectError
from connectors.xprotect.imageserver import MAX_TEXT_BYTES, ImageServerSession, RecorderAddress, StoredFrame
from connectors.xprotect.recorded import collect_window, decoding_times

CONNECTED = (
    b'<?xml version="1.0" encoding="UTF-8"?><methodresponse><requestid>1</requestid>'
    b"<methodname>connect</methodname><connected>yes</connected></methodresponse>\r\n\r\n"
)
WHEN = datetime(2026, 1, 1, tzinfo=UTC)
MS = 1_767_225_600_000  # WHEN in milliseconds


def image(body: bytes, *, length: int | None = None, current: str = str(MS)) -> bytes:
    size = len(body) if length is None else length
    head = f"ImageResponse\r\nCurrent: {current}\r\nNext: {MS + 67}\r\nPrev: {MS}\r\n"
    head += f"Content-length: {size}\r\n\r\n"
    return head.encode() + body


def gbd(
    payload: bytes, *, codec: int = 0x000A, data_type: int = 0x0010, total: int | None = None, at: int = MS
) -> bytes:
    size = 32 + len(payload) if total is None else total
    return struct.pack(">HIHHHQQI", data_type, size, codec, 1, 1, at, at, 0) + payload


Answer = Callable[[asyncio.StreamWriter], None]


@contextlib.asynccontextmanager
async def peer(*answers: Answer) -> AsyncIterator[RecorderAddress]:
    """A recording server that accepts any connect and answers the requests after it with ``answers``."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(CONNECTED)
            for answer in answers:
                await reader.readuntil(b"\r\n\r\n")
                answer(writer)
                await writer.drain()
            await reader.read()  # until the client hangs up
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield RecorderAddress("127.0.0.1", server.sockets[0].getsockname()[1], False)
    finally:
        server.close()
        await server.wait_closed()


def sends(data: bytes, *, close: bool = False) -> Answer:
    def answer(writer: asyncio.StreamWriter) -> None:
        writer.write(data)
        if close:
            writer.close()

    return answer


async def goto_with(answer: Answer, *, limit: float = 10.0) -> StoredFrame | None:
    async with (
        peer(answer) as address,
        ImageServerSession(address, "cam", "token", label="test", timeout=limit) as s,
    ):
        return await s.goto(WHEN)


async def test_a_stored_h264_picture_is_unwrapped() -> None:
    frame = await goto_with(sends(image(gbd(b"\x00\x00\x00\x01\x65abc"))))
    assert frame is not None
    assert frame.data == b"\x00\x00\x00\x01\x65abc"
    assert frame.codec == "h264"
    assert frame.keyframe is True
    assert frame.time == WHEN


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (b"HTTP/1.1 200 OK\r\n\r\n", "reply starts with b'HTTP/1.1 200 OK', not XML nor 'ImageResponse'"),
        (b"<methodresponse><connected>yes</connected>\r\n\r\n", "reply is not well-formed XML"),
        (b"ImageResponse\r\nCurrent: 1\r\n\r\n", "without a numeric Content-length"),
        (image(gbd(b"x", codec=0x0042)), "unknown GenericByteData codec 0x0042"),
        (image(gbd(b"x", data_type=0x0020)), "GenericByteData type 0x0020, not video"),
        (image(gbd(b"x", total=99)), "GenericByteData says 99 bytes but Content-length says 33"),
        (image(b"short"), "image of 5 bytes is shorter than its header"),
        (image(gbd(b"x"), current="soon"), "image reply header Current is 'soon'"),
        (image(gbd(b"x", at=2**63)), f"picture time {2**63} ms is not a time since 1970"),
        (image(b"x" * 10, length=100_000_000), "image of 100000000 bytes (limit"),
        (b"<" + b"x" * (MAX_TEXT_BYTES + 10), f"runs past {MAX_TEXT_BYTES} bytes without CR-LF-CR-LF"),
    ],
)
async def test_a_malformed_reply_is_a_clear_protocol_error(reply: bytes, expected: str) -> None:
    with pytest.raises(ProtocolError) as raised:
        await goto_with(sends(reply))
    assert expected in str(raised.value)
    assert "XProtect test recorder 127.0.0.1:" in str(raised.value)


async def test_a_picture_cut_short_by_a_closed_connection_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="connection closed after 40 of 100 image bytes"):
        await goto_with(sends(image(gbd(b"x" * 8), length=100), close=True))


async def test_a_server_that_stops_answering_times_out() -> None:
    with pytest.raises(GatewayUnreachable, match=r"goto: no reply within 0.5 s"):
        await goto_with(sends(b""), limit=0.5)


async def test_a_recorder_that_is_not_there_is_unreachable() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    with pytest.raises(GatewayUnreachable, match="cannot connect"):
        async with ImageServerSession(RecorderAddress("127.0.0.1", port, False), "cam", "t", label="test"):
            pass


def test_a_recorder_address_comes_from_web_server_uri() -> None:
    assert RecorderAddress.from_uri("http://rec-1:7563/") == RecorderAddress("rec-1", 7563, False)
    assert RecorderAddress.from_uri("https://rec-1/") == RecorderAddress("rec-1", 7563, True)
    with pytest.raises(ValueError, match="webServerUri must be an http"):
        RecorderAddress.from_uri("rec-1:7563")
    assert issubclass(ProtocolError, XProtectError)


@pytest.mark.parametrize(
    ("pts", "expected_dts"),
    [
        ([0, 67, 133, 200], [0, 67, 133, 200]),  # no reordering: decoding times are presentation times
        # I P B B P B B: decoding times shifted back by one reorder step
        ([0, 200, 67, 133, 400, 267, 333], [-67, 0, 66, 133, 200, 266, 333]),
        ([0, 67, 67, 133], [0, 67, 68, 133]),  # a repeated millisecond still increases
    ],
)
def test_decoding_times_stay_increasing_and_at_or_before_presentation(
    pts: list[int], expected_dts: list[int]
) -> None:
    shown, dts = decoding_times(pts)
    assert dts == expected_dts
    assert all(d <= p for p, d in zip(shown, dts, strict=True))
    assert all(b > a for a, b in itertools.pairwise(dts))


async def test_a_next_without_a_picture_the_server_promised_is_an_error_not_a_short_clip() -> None:
    refused = b"<methodresponse><methodname>next</methodname><errorreason>unknown method</errorreason>"
    async with (
        peer(
            sends(image(gbd(b"\x00\x00\x00\x01\x65"))), sends(refused + b"</methodresponse>\r\n\r\n")
        ) as address,
        ImageServerSession(address, "cam", "token", label="test", timeout=10) as session,
    ):
        with pytest.raises(ProtocolError, match=f"next answered without a picture .* at {MS + 67} ms"):
            await collect_window(session, WHEN, WHEN + timedelta(seconds=5))
