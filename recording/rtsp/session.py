"""One RTSP session over TCP with RTP interleaved on the same connection (RFC 2326 section 10.12).

Requests are answered in order; a 401 is answered once with the credentials (Digest or Basic). While
media flows, ``GET_PARAMETER`` keeps the session alive at half the server's session timeout, and every
read has a time limit, so a server that goes quiet ends the session with :class:`RtspTimeout` rather
than a hang. The URL's password is never put into a message or log line.
"""

from __future__ import annotations

__all__ = ["Interleaved", "RtspSession", "public_url"]

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

from recording.rtsp.auth import Authenticator, parse_challenges
from recording.rtsp.errors import (
    RtspAuthError,
    RtspConnectError,
    RtspError,
    RtspNotFound,
    RtspOptionNotSupported,
    RtspProtocolError,
    RtspStatusError,
    RtspStreamEnded,
    RtspTimeout,
    RtspUrlError,
)
from recording.rtsp.message import (
    MAX_HEADER_BYTES,
    RtspResponse,
    format_request,
    parse_response_head,
)
from recording.rtsp.rtp import RtpPacket, parse_rtp
from recording.rtsp.sdp import VideoTrack, parse_video_track

log = logging.getLogger(__name__)

USER_AGENT = "vmsbridge-recording/1"
_RTCP_BYE = 203
_DEFAULT_SESSION_TIMEOUT = 60.0


def public_url(url: str) -> str:
    """``url`` without user name or password, fit for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass(frozen=True)
class Interleaved:
    """A ``$`` frame: the channel it came on and its bytes."""

    channel: int
    data: bytes


def _split_url(url: str) -> tuple[SplitResult, str, int]:
    try:
        parts = urlsplit(url)
        port = parts.port or 554
    except ValueError:
        raise RtspUrlError(f"RTSP URL {public_url(url)!r} has an invalid port") from None
    if parts.scheme.lower() != "rtsp" or not parts.hostname:
        raise RtspUrlError(f"RTSP URL must look like rtsp://host[:port]/path, got {public_url(url)!r}")
    return parts, parts.hostname, port


class RtspSession:
    """An RTSP client connection; an async context manager that tears the session down on exit."""

    def __init__(
        self,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        parts, self._host, self._port = _split_url(url)
        user = username if username is not None else unquote(parts.username or "")
        secret = password if password is not None else unquote(parts.password or "")
        self.url = public_url(url)
        self.timeout = timeout
        self._auth = Authenticator(user, secret) if user else None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._cseq = 0
        self._session: str | None = None
        self._session_timeout = _DEFAULT_SESSION_TIMEOUT
        self._early: deque[Interleaved] = deque()
        self._content_base = self.url
        self.rtp_channel = 0

    async def __aenter__(self) -> RtspSession:
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def connect(self) -> None:
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(self._host, self._port, limit=MAX_HEADER_BYTES), self.timeout
            )
        except TimeoutError:
            raise RtspTimeout(f"{self.url}: no TCP connection within {self.timeout:g} s") from None
        except OSError as exc:
            raise RtspConnectError(f"{self.url}: cannot connect ({exc.strerror or exc})") from None

    async def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is None:
            return
        if self._session is not None:
            # The server may already be gone; closing the socket ends the session too.
            with contextlib.suppress(OSError, RtspError):
                await self._send("TEARDOWN", self.url, {})
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(writer.wait_closed(), self.timeout)

    # -- requests ------------------------------------------------------------------------------

    async def request(
        self, method: str, url: str | None = None, headers: Mapping[str, str] | None = None
    ) -> RtspResponse:
        """Send ``method``, answer one authentication challenge, return the 2xx response or raise."""
        target = url or self.url
        extra = dict(headers or {})
        cseq = await self._send(method, target, extra)
        response = await self._response(cseq, method)
        challenges = response.headers.get_all("WWW-Authenticate")
        if response.status == 401 and self._auth is not None and (not self._auth.ready or _stale(challenges)):
            # First contact, or the server's nonce expired (stale=true): answer the new challenge once.
            self._auth.challenge(challenges)
            cseq = await self._send(method, target, extra)
            response = await self._response(cseq, method)
        if 200 <= response.status < 300:
            return response
        what = f"{self.url}: {method} answered {response.status} {response.reason}"
        if response.status == 401:
            if self._auth is None:
                raise RtspAuthError(
                    f"{what}: the server asks for credentials and none were given",
                    method=method,
                    status=401,
                    reason=response.reason,
                )
            raise RtspAuthError(
                f"{what}: the server refused the credentials of user {self._auth.username!r}",
                method=method,
                status=401,
                reason=response.reason,
            )
        if response.status == 403:
            raise RtspAuthError(
                f"{what}: access forbidden", method=method, status=403, reason=response.reason
            )
        if response.status == 404:
            raise RtspNotFound(f"{what}: no such stream", method=method, status=404, reason=response.reason)
        if response.status == 551:
            unsupported = response.headers.get("Unsupported", "?")
            raise RtspOptionNotSupported(
                f"{what}: the server does not support the required option(s) {unsupported}",
                method=method,
                status=551,
                reason=response.reason,
            )
        raise RtspStatusError(what, method=method, status=response.status, reason=response.reason)

    async def describe(self, headers: Mapping[str, str] | None = None) -> VideoTrack:
        response = await self.request("DESCRIBE", headers={"Accept": "application/sdp", **(headers or {})})
        base = response.headers.get("Content-Base") or response.headers.get("Content-Location")
        if base:
            self._content_base = base
        try:
            text = response.body.decode("utf-8")
        except UnicodeDecodeError:
            raise RtspProtocolError(f"{self.url}: DESCRIBE answer (SDP) is not UTF-8 text") from None
        return parse_video_track(text)

    def control_url(self, track: VideoTrack) -> str:
        control = track.control
        if not control or control == "*":
            return self._content_base
        if "://" in control:
            return control
        base = self._content_base
        return f"{base}{control}" if base.endswith("/") else f"{base}/{control}"

    async def setup(self, track: VideoTrack, headers: Mapping[str, str] | None = None) -> None:
        response = await self.request(
            "SETUP",
            self.control_url(track),
            {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1", **(headers or {})},
        )
        session = response.headers.get("Session")
        if not session:
            raise RtspProtocolError(f"{self.url}: SETUP answer has no Session header")
        identifier, *params = (p.strip() for p in session.split(";"))
        self._session = identifier
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "timeout" and value.strip().isdigit() and int(value) > 0:
                self._session_timeout = float(value)
        transport = response.headers.get("Transport", "")
        if "interleaved=" not in transport:
            raise RtspProtocolError(
                f"{self.url}: SETUP answer's Transport {transport[:80]!r} is not TCP interleaved"
            )
        channels = transport.split("interleaved=", 1)[1].split(";", 1)[0]
        first = channels.split("-", 1)[0]
        if not first.isdigit():
            raise RtspProtocolError(
                f"{self.url}: SETUP answer's interleaved channels {channels!r} are not numbers"
            )
        self.rtp_channel = int(first)

    async def play(self, headers: Mapping[str, str] | None = None) -> RtspResponse:
        return await self.request("PLAY", self._content_base, headers)

    # -- media ---------------------------------------------------------------------------------

    async def rtp_packets(self) -> AsyncIterator[RtpPacket]:
        """RTP packets of the set-up track until the server says BYE; closing without BYE raises."""
        keep_alive_every = max(self._session_timeout / 2, 1.0)
        last_keep_alive = time.monotonic()
        while True:
            if time.monotonic() - last_keep_alive >= keep_alive_every:
                await self._send("GET_PARAMETER", self._content_base, {})
                last_keep_alive = time.monotonic()
            message = self._early.popleft() if self._early else await self._read_message()
            if message is None:
                raise RtspStreamEnded(
                    f"{self.url}: the server closed the connection mid-stream (no RTCP BYE)"
                )
            if not isinstance(message, Interleaved):
                continue  # the answer to a keep-alive
            if message.channel == self.rtp_channel:
                yield parse_rtp(message.data)
            elif message.channel == self.rtp_channel + 1 and _has_bye(message.data):
                return

    # -- wire ----------------------------------------------------------------------------------

    async def _send(self, method: str, url: str, headers: dict[str, str]) -> int:
        if self._writer is None:
            raise RtspStreamEnded(f"{self.url}: the connection is closed")
        self._cseq += 1
        fields = {"CSeq": str(self._cseq), "User-Agent": USER_AGENT}
        if self._session is not None:
            fields["Session"] = self._session
        if self._auth is not None:
            authorization = self._auth.header(method, url)
            if authorization is not None:
                fields["Authorization"] = authorization
        fields.update(headers)
        self._writer.write(format_request(method, url, fields))
        try:
            await asyncio.wait_for(self._writer.drain(), self.timeout)
        except TimeoutError:
            raise RtspTimeout(f"{self.url}: could not send {method} within {self.timeout:g} s") from None
        except OSError as exc:
            raise RtspStreamEnded(f"{self.url}: connection lost sending {method} ({exc})") from None
        return self._cseq

    async def _response(self, cseq: int, method: str) -> RtspResponse:
        while True:
            message = await self._read_message()
            if message is None:
                raise RtspStreamEnded(
                    f"{self.url}: the server closed the connection before answering {method}"
                )
            if isinstance(message, Interleaved):
                self._early.append(message)
                continue
            if message.cseq is None or message.cseq == cseq:
                return message

    async def _read_message(self) -> RtspResponse | Interleaved | None:
        """The next response or ``$`` frame; None when the server closed the connection cleanly."""
        reader = self._reader
        assert reader is not None, "connect() first"
        try:
            return await asyncio.wait_for(self._read(reader), self.timeout)
        except TimeoutError:
            raise RtspTimeout(f"{self.url}: the server sent nothing for {self.timeout:g} s") from None
        except asyncio.IncompleteReadError:
            raise RtspStreamEnded(f"{self.url}: the server closed the connection mid-message") from None
        except asyncio.LimitOverrunError:
            raise RtspProtocolError(
                f"{self.url}: RTSP response head is over the limit of {MAX_HEADER_BYTES} bytes"
            ) from None
        except ConnectionError as exc:
            raise RtspStreamEnded(f"{self.url}: connection lost ({exc})") from None

    @staticmethod
    async def _read(reader: asyncio.StreamReader) -> RtspResponse | Interleaved | None:
        first = await reader.read(1)
        while first in (b"\r", b"\n"):
            first = await reader.read(1)
        if not first:
            return None
        if first == b"$":
            header = await reader.readexactly(3)
            return Interleaved(header[0], await reader.readexactly(int.from_bytes(header[1:], "big")))
        head = first + await reader.readuntil(b"\r\n\r\n")
        status, reason, headers, length = parse_response_head(head[:-4])
        body = await reader.readexactly(length) if length else b""
        return RtspResponse(status, reason, headers, body)


def _stale(challenges: list[str]) -> bool:
    return parse_challenges(challenges).get("digest", {}).get("stale", "").lower() == "true"


def _has_bye(data: bytes) -> bool:
    position = 0
    while position + 4 <= len(data):
        if data[position + 1] == _RTCP_BYE:
            return True
        position += 4 * (int.from_bytes(data[position + 2 : position + 4], "big") + 1)
    return False
