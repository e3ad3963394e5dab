"""The RTSP server of an emulated device: its clip as a live stream and as a recording (Profile G replay).

Paths: ``/live/<profile token>`` loops the clip in real time; ``/replay/<recording token>`` plays a
window of the device's recording, which is the clip looped end to end since :attr:`RtspServer.recorded_from`
until now (minus :attr:`RtspServer.recording_gaps`, where the "camera" was off). Replay needs
``Require: onvif-replay`` and ``Range: clock=<start>-<end>`` on PLAY, starts at the keyframe at or before
``start``, and puts the ONVIF RTP header extension (0xABAC: NTP time, clean-point/end/discontinuity/
terminal flags) on every packet; ``Rate-Control: no`` sends as fast as the socket takes it. A live path
answers ``Require: onvif-replay`` with 551, as a camera without replay does.

Only TCP-interleaved transport is offered (UDP is answered with 461), and requests need Digest (or
Basic) authentication with the device's user. H.264 goes out as RFC 6184 packetization-mode 1: single
NAL units, FU-A for NAL units above the payload size. Nothing is encoded: the clip's NAL units are sent
as they are stored.
"""

from __future__ import annotations

__all__ = ["RtspServer"]

import asyncio
import base64
import contextlib
import hashlib
import logging
import os
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connectors.onvif.emulator.clipframes import ClipFrames, Frame, load_clip_frames
from connectors.onvif.emulator.rtp import PAYLOAD_TYPE, Packetizer

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 16 * 1024
SESSION_TIMEOUT = 60
_CLOCK = 90_000


class _Reply(Exception):
    """Ends a request with a non-2xx status."""

    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {reason}")
        self.status, self.reason, self.headers = status, reason, headers or {}


@dataclass
class _Request:
    method: str
    url: str
    headers: dict[str, str]  # lower-case names

    @property
    def path(self) -> str:
        rest = self.url.split("://", 1)[-1]
        return "/" + rest.split("/", 1)[1] if "/" in rest else "/"


def _clock(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%f")[:-3] + "Z"


def _parse_clock(text: str) -> datetime:
    value = text.strip().rstrip("Z")
    for layout in ("%Y%m%dT%H%M%S.%f", "%Y%m%dT%H%M%S"):
        try:
            return datetime.strptime(value, layout).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise ValueError(text)


class RtspServer:
    """One device's RTSP endpoint on its own port (0: any free port)."""

    def __init__(
        self,
        *,
        host: str,
        username: str,
        password: str,
        clip: Path | None,
        profiles: dict[str, str],
        now: Callable[[], datetime],
        recorded_for: timedelta = timedelta(hours=1),
    ) -> None:
        self.host = host
        self.username = username
        self.password = password
        self._clip_path = clip
        self._profiles = profiles  # profile token -> video source token
        self._now = now
        self.recorded_from = now() - recorded_for
        #: Spans (device clock) with nothing recorded; tests add to it.
        self.recording_gaps: list[tuple[datetime, datetime]] = []
        #: (recording token, start, end) of every replay PLAY.
        self.replay_requests: list[tuple[str, datetime, datetime]] = []
        #: Set at every replay PLAY (tests await it).
        self.replay_started = asyncio.Event()
        #: Accept HTTP Basic as well as Digest (many cameras do).
        self.allow_basic = True
        #: Challenge with Basic only and refuse Digest, as some older cameras and encoders do.
        self.basic_only = False
        #: Seconds announced in ``Session: id;timeout=N``; clients keep the session alive within it.
        self.session_timeout = SESSION_TIMEOUT
        #: Quirk: a recorder that fails mid-replay drops the connection after this many frames.
        self.replay_drops_after_frames: int | None = None
        #: Requests received, by method (e.g. how many GET_PARAMETER keep-alives arrived).
        self.methods: dict[str, int] = {}
        self.port = 0
        self._server: asyncio.Server | None = None
        self._clip: ClipFrames | None = None
        self._nonce = os.urandom(16).hex()
        self._stale_nonces: set[str] = set()
        self._connections: set[_Connection] = set()

    @property
    def recordings(self) -> dict[str, str]:
        """Recording token -> video source token: one recording per video source."""
        sources = dict.fromkeys(self._profiles.values())
        return {f"Recording_{source}": source for source in sources}

    def live_url(self, profile: str) -> str:
        return f"rtsp://{self._advertised_host}:{self.port}/live/{profile}"

    def replay_url(self, recording: str) -> str:
        return f"rtsp://{self._advertised_host}:{self.port}/replay/{recording}"

    @property
    def _advertised_host(self) -> str:
        return "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host

    async def start(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, port, limit=MAX_HEAD_BYTES)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        # Abort the connections rather than cancel their tasks: asyncio.start_server's done-callback
        # calls task.exception(), which raises on a cancelled task (Python 3.11).
        for connection in list(self._connections):
            connection.stop_streaming()
            connection.writer.transport.abort()
        for connection in list(self._connections):
            with contextlib.suppress(Exception):
                await connection.finished.wait()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 2.0)

    async def _frames(self) -> ClipFrames:
        if self._clip is None:
            if self._clip_path is None or not self._clip_path.is_file():
                raise _Reply(404, "Not Found")
            self._clip = await asyncio.to_thread(load_clip_frames, self._clip_path)
        return self._clip

    # -- connection ----------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = _Connection(self, reader, writer)
        self._connections.add(connection)
        try:
            await connection.run()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            connection.stop_streaming()
            self._connections.discard(connection)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            connection.finished.set()

    def expire_nonce(self) -> None:
        """A new Digest nonce; answers signed with the old one get 401 with ``stale=true``."""
        self._stale_nonces.add(self._nonce)
        self._nonce = os.urandom(16).hex()

    def _authorized(self, request: _Request) -> bool:
        header = request.headers.get("authorization", "")
        scheme, _, rest = header.partition(" ")
        if scheme.lower() == "basic" and (self.allow_basic or self.basic_only):
            try:
                user, _, secret = base64.b64decode(rest).decode().partition(":")
            except ValueError:
                return False
            return user == self.username and secret == self.password
        if scheme.lower() != "digest" or self.basic_only:
            return False
        params = _digest_params(rest)
        return params.get("nonce") == self._nonce and self._digest_valid(request, params)

    def _digest_valid(self, request: _Request, params: dict[str, str]) -> bool:
        if params.get("username") != self.username:
            return False

        def md5(text: str) -> str:
            return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()

        nonce = params.get("nonce", "")
        ha1 = md5(f"{self.username}:{params.get('realm', '')}:{self.password}")
        ha2 = md5(f"{request.method}:{params.get('uri', '')}")
        if params.get("qop") == "auth":
            expected = md5(f"{ha1}:{nonce}:{params.get('nc')}:{params.get('cnonce')}:auth:{ha2}")
        else:
            expected = md5(f"{ha1}:{nonce}:{ha2}")
        return params.get("response") == expected

    def _challenge(self, request: _Request) -> dict[str, str]:
        if self.basic_only:
            return {"WWW-Authenticate": 'Basic realm="ONVIF emulator"'}
        scheme, _, rest = request.headers.get("authorization", "").partition(" ")
        params = _digest_params(rest) if scheme.lower() == "digest" else {}
        # Right credentials with an expired nonce: say so, and the client answers the new nonce.
        stale = params.get("nonce") in self._stale_nonces and self._digest_valid(request, params)
        digest = f'Digest realm="ONVIF emulator", nonce="{self._nonce}", qop="auth", algorithm=MD5'
        return {"WWW-Authenticate": digest + (", stale=true" if stale else "")}


def _digest_params(text: str) -> dict[str, str]:
    params = {}
    for item in text.split(","):
        name, _, value = item.strip().partition("=")
        params[name.lower()] = value.strip().strip('"')
    return params


class _Connection:
    def __init__(
        self, server: RtspServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.session = os.urandom(6).hex()
        self.set_up = False
        self.channel = 0
        self.streaming: asyncio.Task[None] | None = None
        self.finished = asyncio.Event()

    def stop_streaming(self) -> None:
        if self.streaming is not None:
            self.streaming.cancel()

    async def run(self) -> None:
        while True:
            first = await self.reader.read(1)
            if not first:
                return
            if first == b"$":  # RTCP from the client: read and ignore
                header = await self.reader.readexactly(3)
                await self.reader.readexactly(int.from_bytes(header[1:], "big"))
                continue
            if first in (b"\r", b"\n"):
                continue
            try:
                head = first + await self.reader.readuntil(b"\r\n\r\n")
            except asyncio.LimitOverrunError:
                await self._write_reply(0, 431, "Request Header Fields Too Large", {})
                return
            request = self._parse(head)
            if request is None:
                await self._write_reply(0, 400, "Bad Request", {})
                return
            length = int(request.headers.get("content-length", "0") or 0)
            if length:
                await self.reader.readexactly(min(length, 65536))
            cseq = int(request.headers.get("cseq", "0") or 0)
            try:
                headers, body = await self._handle(request)
            except _Reply as reply:
                await self._write_reply(cseq, reply.status, reply.reason, reply.headers)
                if request.method == "TEARDOWN":
                    return
                continue
            await self._write_reply(cseq, 200, "OK", headers, body)
            if request.method == "TEARDOWN":
                return

    @staticmethod
    def _parse(head: bytes) -> _Request | None:
        lines = head.decode("utf-8", "replace").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("RTSP/"):
            return None
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        return _Request(parts[0], parts[1], headers)

    async def _write_reply(
        self, cseq: int, status: int, reason: str, headers: dict[str, str], body: bytes = b""
    ) -> None:
        lines = [f"RTSP/1.0 {status} {reason}", f"CSeq: {cseq}", "Server: vmsbridge ONVIF emulator"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body:
            lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await self.writer.drain()

    def _target(self, request: _Request) -> tuple[str, str]:
        """("live", profile token) or ("replay", recording token) from the request URL."""
        parts = [p for p in request.path.split("/") if p]
        if len(parts) >= 2 and parts[0] == "live" and parts[1] in self.server._profiles:
            return "live", parts[1]
        if len(parts) >= 2 and parts[0] == "replay" and parts[1] in self.server.recordings:
            return "replay", parts[1]
        raise _Reply(404, "Not Found")

    async def _handle(self, request: _Request) -> tuple[dict[str, str], bytes]:
        method = request.method
        self.server.methods[method] = self.server.methods.get(method, 0) + 1
        if method == "OPTIONS":
            return {"Public": "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER"}, b""
        if not self.server._authorized(request):
            raise _Reply(401, "Unauthorized", self.server._challenge(request))
        kind, token = self._target(request)
        required = {r.strip() for r in request.headers.get("require", "").split(",") if r.strip()}
        unsupported = required - ({"onvif-replay"} if kind == "replay" else set())
        if unsupported:
            raise _Reply(551, "Option not supported", {"Unsupported": ", ".join(sorted(unsupported))})
        session = {"Session": f"{self.session};timeout={self.server.session_timeout}"}
        if method == "DESCRIBE":
            clip = await self.server._frames()
            base = request.url.rstrip("/") + "/"
            return {"Content-Type": "application/sdp", "Content-Base": base}, self._sdp(clip, kind).encode()
        if method == "SETUP":
            transport = request.headers.get("transport", "")
            if "RTP/AVP/TCP" not in transport.upper():
                raise _Reply(461, "Unsupported Transport")
            self.set_up = True
            return {**session, "Transport": "RTP/AVP/TCP;unicast;interleaved=0-1"}, b""
        if method == "GET_PARAMETER":
            return session, b""
        if method == "TEARDOWN":
            self.stop_streaming()
            return session, b""
        if method == "PLAY":
            if not self.set_up:
                raise _Reply(455, "Method Not Valid in This State")
            clip = await self.server._frames()
            self.stop_streaming()
            if kind == "live":
                self.streaming = asyncio.create_task(self._until_gone(self._stream_live(clip)))
                return {**session, "Range": "npt=now-"}, b""
            start, end = self._clock_range(request.headers.get("range", ""))
            self.server.replay_requests.append((token, start, end))
            self.server.replay_started.set()
            paced = request.headers.get("rate-control", "yes").strip().lower() != "no"
            self.streaming = asyncio.create_task(
                self._until_gone(self._stream_replay(clip, start, end, paced))
            )
            return {**session, "Range": request.headers["range"]}, b""
        raise _Reply(
            405, "Method Not Allowed", {"Allow": "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER"}
        )

    def _clock_range(self, text: str) -> tuple[datetime, datetime]:
        if not text.startswith("clock="):
            raise _Reply(457, "Invalid Range")
        first, _, second = text[len("clock=") :].partition("-")
        try:
            start = _parse_clock(first)
            end = _parse_clock(second) if second.strip() else self.server._now()
        except ValueError:
            raise _Reply(457, "Invalid Range") from None
        if end <= start:
            raise _Reply(457, "Invalid Range")
        return start, end

    def _sdp(self, clip: ClipFrames, kind: str) -> str:
        sets = ",".join(base64.b64encode(s).decode() for s in clip.parameter_sets)
        fmtp = f"packetization-mode=1;profile-level-id={clip.profile_level_id};sprop-parameter-sets={sets}"
        lines = [
            "v=0",
            f"o=- {self.session} 1 IN IP4 {self.server._advertised_host}",
            "s=ONVIF emulator",
            "c=IN IP4 0.0.0.0",
            "t=0 0",
            "a=control:*",
            "a=range:npt=now-" if kind == "live" else f"a=range:clock={_clock(self.server.recorded_from)}-",
            f"m=video 0 RTP/AVP {PAYLOAD_TYPE}",
            f"a=rtpmap:{PAYLOAD_TYPE} H264/{_CLOCK}",
            f"a=fmtp:{PAYLOAD_TYPE} {fmtp}",
            "a=control:track1",
        ]
        return "\r\n".join(lines) + "\r\n"

    # -- media ---------------------------------------------------------------------------------

    @staticmethod
    async def _until_gone(streaming: Coroutine[None, None, None]) -> None:
        """Run a streaming coroutine; a client that hangs up simply ends it."""
        with contextlib.suppress(ConnectionError):
            await streaming

    async def _send_frame(
        self,
        frame: Frame,
        timestamp: int,
        packetizer: Packetizer,
        replay: tuple[datetime, int] | None = None,
        *,
        terminal: bool = False,
    ) -> None:
        for packet in packetizer.frame(frame, timestamp, replay, terminal=terminal):
            self.writer.write(b"$" + bytes([self.channel]) + len(packet).to_bytes(2, "big") + packet)
        await self.writer.drain()

    async def _stream_live(self, clip: ClipFrames) -> None:
        packetizer = Packetizer()
        base = int.from_bytes(os.urandom(4), "big")
        started = time.monotonic()
        lead = clip.frames[0].pts - clip.frames[0].dts  # decode times start before presentation times
        passes = 0
        while True:
            offset = passes * clip.length
            for frame in clip.frames:
                due = started + offset + frame.dts + lead
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                timestamp = (base + round((offset + frame.pts) * _CLOCK)) & 0xFFFFFFFF
                await self._send_frame(frame, timestamp, packetizer)
            passes += 1

    async def _stream_replay(self, clip: ClipFrames, start: datetime, end: datetime, paced: bool) -> None:
        packetizer = Packetizer()
        base = int.from_bytes(os.urandom(4), "big")
        sent_at = time.monotonic()
        pending: tuple[Frame, datetime, int] | None = None
        first_time: datetime | None = None
        discontinuity = False
        sent = 0
        for frame, moment, flags in self._recorded(clip, start, end):
            if flags == "gap":
                discontinuity = True
                continue
            if pending is not None:
                await self._replay_one(packetizer, base, first_time, pending, last=False)
                pending = None
                sent += 1
                if sent == self.server.replay_drops_after_frames:
                    self.writer.close()
                    return
            first_time = first_time or moment
            if paced:
                delay = sent_at + (moment - first_time).total_seconds() - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            pending = (frame, moment, 0x20 if discontinuity else 0)
            discontinuity = False
        if pending is not None:
            await self._replay_one(packetizer, base, first_time, pending, last=True)

    async def _replay_one(
        self,
        packetizer: Packetizer,
        base: int,
        first_time: datetime | None,
        pending: tuple[Frame, datetime, int],
        *,
        last: bool,
    ) -> None:
        frame, moment, flags = pending
        elapsed = (moment - (first_time or moment)).total_seconds()
        timestamp = (base + round(elapsed * _CLOCK)) & 0xFFFFFFFF
        await self._send_frame(frame, timestamp, packetizer, (moment, flags), terminal=last)

    def _recorded(
        self, clip: ClipFrames, start: datetime, end: datetime
    ) -> Iterator[tuple[Frame, datetime, str]]:
        """Recorded frames (decode order) from the keyframe at or before ``start`` until ``end``.

        A frame inside a recording gap yields ``"gap"`` (and is not sent); after a gap the stream resumes
        at the next keyframe. Nothing is recorded before ``recorded_from`` or after now.
        """
        server = self.server
        begin = max(start, server.recorded_from)
        stop = min(end, server._now())
        if begin >= stop:
            return
        keyframes = [f.pts for f in clip.frames if f.keyframe]
        passes = int((begin - server.recorded_from).total_seconds() // clip.length)
        into = (begin - server.recorded_from).total_seconds() - passes * clip.length
        first_key = max((k for k in keyframes if k <= into + 1e-9), default=keyframes[0])
        index = next(i for i, f in enumerate(clip.frames) if f.keyframe and f.pts == first_key)
        in_gap = False
        while True:
            pass_start = server.recorded_from + timedelta(seconds=passes * clip.length)
            for frame in clip.frames[index:]:
                moment = pass_start + timedelta(seconds=frame.pts)
                if moment >= stop:
                    # Cut in decode order: every frame sent still has the frames it refers to.
                    return
                gap = any(a <= moment < b for a, b in server.recording_gaps)
                if gap or (in_gap and not frame.keyframe):
                    in_gap = True
                    yield frame, moment, "gap"
                    continue
                in_gap = False
                yield frame, moment, ""
            index = 0
            passes += 1
