"""Our RTSP client against servers that misbehave: each gives a clear error and no output file."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from recording.replay import ReplayRequest, _write, replay_clip
from recording.rtsp import RtspProtocolError, RtspStreamEnded, RtspTimeout
from recording.rtsp.depacketize import AccessUnit
from recording.rtsp.remux import TimedUnit
from recording.rtsp.sdp import VideoTrack
from tests.recording.replay_support import leftovers

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"rtsp://127.0.0.1:{port}/replay/x"
    finally:
        server.close()
        await server.wait_closed()


def _request(url: str, *, limit: float = 5.0) -> ReplayRequest:
    end = datetime.now(UTC)
    return ReplayRequest(url, end - timedelta(seconds=10), end, "admin", "pw", timeout=limit)


async def _answer_with(writer: asyncio.StreamWriter, reader: asyncio.StreamReader, answer: bytes) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(answer)
    await writer.drain()


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (b"HTTP/1.1 200 OK\r\nCSeq: 1\r\n\r\n", "status line must look like 'RTSP/1.0 200 OK'"),
        (b"RTSP/1.0 200 OK\r\nCSeq 1\r\n\r\n", "header line must be 'Name: value'"),
        (b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: lots\r\n\r\n", "Content-Length must be a number"),
        (b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 999999999\r\n\r\n", "over the limit of"),
        (b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nX: " + b"a" * 70_000 + b"\r\n\r\n", "head is over the limit"),
        (
            b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 30\r\n\r\nv=0\r\nm=audio 0 RTP/AVP 0\r\n.....",
            "no H.264 or H.265 video track",
        ),
        (
            b"RTSP/1.0 401 Unauthorized\r\nCSeq: 1\r\nWWW-Authenticate: Negotiate abc\r\n\r\n",
            "offers negotiate for authentication",
        ),
    ],
)
async def test_malformed_answers_are_named(answer: bytes, expected: str, tmp_path: Path) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _answer_with(writer, reader, answer)
        await reader.read()  # until the client hangs up

    async with serving(handler) as url:
        with pytest.raises(RtspProtocolError, match=expected):
            await replay_clip(_request(url), tmp_path / "x.mp4")
    assert leftovers(tmp_path) == []


async def test_a_server_that_never_answers_times_out(tmp_path: Path) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    async with serving(handler) as url:
        with pytest.raises(RtspTimeout, match=r"sent nothing for 0\.5 s"):
            await replay_clip(_request(url, limit=0.5), tmp_path / "x.mp4")


async def test_a_server_that_hangs_up_is_a_stream_end(tmp_path: Path) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    async with serving(handler) as url:
        with pytest.raises(RtspStreamEnded, match="closed the connection before answering DESCRIBE"):
            await replay_clip(_request(url), tmp_path / "x.mp4")
    assert leftovers(tmp_path) == []


async def test_video_that_cannot_be_read_is_a_named_error(tmp_path: Path) -> None:
    # A "keyframe" without parameter sets: nothing a decoder can take the picture size from.
    unit = AccessUnit(timestamp=0, nal_units=[b"\x65" + bytes(64)], keyframe=True)
    track = VideoTrack("h264", 96, 90_000, "", ())
    frames = [TimedUnit(unit, datetime.now(UTC))]
    with pytest.raises(RtspProtocolError, match="cannot be written as h264"):
        await _write("rtsp://camera/replay", frames, track, None, tmp_path / "x.mp4", None)
    assert leftovers(tmp_path) == []
