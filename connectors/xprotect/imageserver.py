"""ImageServer protocol client: stored video from an XProtect recording server, one picture per request.

One :class:`ImageServerSession` is one TCP connection (asyncio streams) to a recording server for one
camera, opened with the VMS token (:mod:`connectors.xprotect.vmslogin`). ``connect`` asks for the
stream as recorded (``alwaysstdjpeg`` no), so the server sends each stored picture wrapped in
Milestone's GenericByteData header; :meth:`goto`, :meth:`next` and :meth:`previous` return it as a
:class:`StoredFrame` with the coded picture unwrapped. Facts used (Milestone's ImageServer and
GenericByteData documentation, the ``TcpVideoViewer`` protocol sample):

* requests and text replies end with CR-LF-CR-LF; replies are ``<methodresponse>`` XML (``connected``
  yes/no, ``errorreason``), unsolicited ``<livepackage>`` status XML, or an image: a header block
  starting ``ImageResponse`` (``Current``/``Next``/``Prev`` in milliseconds since 1970 UTC,
  ``Content-length``) and that many bytes;
* an image body is a bare JPEG (starts FF D8: the server transcoded) or GenericByteData: 32 bytes
  big-endian (data type 0x0010 = video, total length including the header, codec 0x000A H.264 /
  0x000E H.265 / 0x0001 JPEG, sequence number, flags with 0x0001 = sync picture, sync timestamp,
  picture timestamp in milliseconds, 4 reserved), then the coded picture.

Every read is bounded in size and time; a reply that breaks these rules raises :class:`ProtocolError`
naming what was wrong, a refused token :class:`AuthenticationFailed` with the server's reason.
"""

from __future__ import annotations

__all__ = ["ImageServerSession", "RecorderAddress", "StoredFrame"]

import asyncio
import contextlib
import logging
import ssl
import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Final
from urllib.parse import urlsplit

from connectors.xprotect.errors import AuthenticationFailed, GatewayUnreachable, ProtocolError

log = logging.getLogger(__name__)

END: Final = b"\r\n\r\n"
DEFAULT_PORT: Final = 7563
MAX_TEXT_BYTES: Final = 64 * 1024  # one XML reply or image header block
MAX_FRAME_BYTES: Final = 32 * 1024 * 1024  # one coded picture; 4K intra frames stay far below
MAX_SKIPPED_REPLIES: Final = 100  # status messages tolerated while waiting for one answer
_GBD: Final = struct.Struct(">HIHHHQQI")
_GBD_VIDEO: Final = 0x0010
_GBD_SYNC: Final = 0x0001
_LATEST_MS: Final = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
GBD_CODECS: Final = {0x000A: "h264", 0x000E: "hevc", 0x0001: "mjpeg"}


@dataclass(frozen=True, slots=True)
class RecorderAddress:
    """Where a recording server listens, from its ``webServerUri``."""

    host: str
    port: int
    tls: bool

    @classmethod
    def from_uri(cls, uri: str) -> RecorderAddress:
        parts = urlsplit(uri)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"webServerUri must be an http(s) URL with a host, got {uri!r}")
        return cls(parts.hostname, parts.port or DEFAULT_PORT, parts.scheme == "https")

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class StoredFrame:
    """One stored picture as the recording server handed it over."""

    time: datetime  # the picture's own timestamp
    codec: str  # "h264", "hevc" or "mjpeg"
    keyframe: bool  # a sync picture: decoding can start here
    data: bytes  # an Annex B access unit, or a JPEG
    transcoded: bool  # a bare JPEG: the server decoded and re-encoded the recording
    current_ms: int
    next_ms: int
    prev_ms: int

    @property
    def at_end(self) -> bool:
        """The server has nothing after this picture."""
        return self.next_ms == self.current_ms

    @property
    def at_start(self) -> bool:
        return self.prev_ms == self.current_ms


class ImageServerSession:
    """One connection to a recording server for one camera; an async context manager."""

    def __init__(
        self,
        recorder: RecorderAddress,
        camera_id: str,
        token: str,
        *,
        label: str,
        timeout: float = 15.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.recorder = recorder
        self.camera_id = camera_id
        self._token = token
        self._label = f"{label} recorder {recorder}"
        self._timeout = timeout
        self._ssl = ssl_context
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._request_id = 0

    async def __aenter__(self) -> ImageServerSession:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def open(self) -> None:
        context = (self._ssl or ssl.create_default_context()) if self.recorder.tls else None
        try:
            async with asyncio.timeout(self._timeout):
                self._reader, self._writer = await asyncio.open_connection(
                    self.recorder.host, self.recorder.port, ssl=context, limit=MAX_TEXT_BYTES
                )
        except (OSError, TimeoutError) as exc:
            raise GatewayUnreachable(self._label, f"cannot connect: {type(exc).__name__}: {exc}") from exc
        reply = await self._call("connect", self._connect_fields())
        if _text(reply, "connected").lower() != "yes":
            reason = _text(reply, "errorreason") or "no reason given"
            await self.close()
            raise AuthenticationFailed(self._label, f"connect to camera {self.camera_id} refused: {reason}")

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(self._writer.wait_closed(), self._timeout)
            self._writer = None
            self._reader = None

    async def goto(self, when: datetime) -> StoredFrame | None:
        """The stored picture at (or just before) ``when``; None if the server has none to give."""
        return await self._image("goto", [("time", str(_millis(when))), ("keyframesonly", "no")])

    async def next(self) -> StoredFrame | None:
        return await self._image("next", [])

    async def previous(self) -> StoredFrame | None:
        return await self._image("previous", [])

    # -- requests and replies ---------------------------------------------------------------

    def _connect_fields(self) -> list[tuple[str, str]]:
        # username/password are placeholders when a token is given (the documented "dummy").
        return [
            ("username", "a"),
            ("password", "a"),
            ("cameraid", self.camera_id),
            ("alwaysstdjpeg", "no"),
            ("connectparam", f"id={self.camera_id}&connectiontoken={self._token}"),
        ]

    def _request(self, method: str, fields: list[tuple[str, str]]) -> bytes:
        self._request_id += 1
        call = ET.Element("methodcall")
        ET.SubElement(call, "requestid").text = str(self._request_id)
        ET.SubElement(call, "methodname").text = method
        for name, value in fields:
            ET.SubElement(call, name).text = value
        return (
            b'<?xml version="1.0" encoding="UTF-8"?>'
            + bytes(ET.tostring(call, encoding="utf-8", xml_declaration=False))
            + END
        )

    async def _send(self, method: str, fields: list[tuple[str, str]]) -> None:
        if self._writer is None:
            raise GatewayUnreachable(self._label, "session not open")
        try:
            self._writer.write(self._request(method, fields))
            async with asyncio.timeout(self._timeout):
                await self._writer.drain()
        except (OSError, TimeoutError) as exc:
            raise GatewayUnreachable(self._label, f"{method}: {type(exc).__name__}: {exc}") from exc

    async def _call(self, method: str, fields: list[tuple[str, str]]) -> ET.Element:
        """Send a request whose answer is a ``<methodresponse>``."""
        await self._send(method, fields)
        for _ in range(MAX_SKIPPED_REPLIES):
            reply = await self._read_reply(method)
            if isinstance(reply, ET.Element) and reply.tag == "methodresponse":
                return reply
            log.debug("%s: skipping %s while waiting for the %s answer", self._label, _kind(reply), method)
        raise ProtocolError(self._label, f"{method}: no answer among {MAX_SKIPPED_REPLIES} replies")

    async def _image(self, method: str, fields: list[tuple[str, str]]) -> StoredFrame | None:
        await self._send(method, fields)
        for _ in range(MAX_SKIPPED_REPLIES):
            reply = await self._read_reply(method)
            if isinstance(reply, StoredFrame):
                return reply
            if isinstance(reply, ET.Element) and reply.tag == "methodresponse":
                reason = _text(reply, "errorreason")
                if reason:
                    log.info("%s: %s answered without an image: %s", self._label, method, reason)
                return None
            if reply is None:
                return None
        raise ProtocolError(self._label, f"{method}: no image among {MAX_SKIPPED_REPLIES} replies")

    async def _read_reply(self, method: str) -> ET.Element | StoredFrame | None:
        """One reply: XML, an image, or None for an image reply with no bytes."""
        block = await self._read_block(method)
        if block.startswith(b"<"):
            try:
                return ET.fromstring(block)
            except ET.ParseError as exc:
                raise ProtocolError(self._label, f"{method}: reply is not well-formed XML ({exc})") from None
        if block.startswith(b"ImageResponse"):
            return await self._read_image(method, block)
        raise ProtocolError(
            self._label, f"{method}: reply starts with {block[:24]!r}, not XML nor 'ImageResponse'"
        )

    async def _read_block(self, method: str) -> bytes:
        """Text up to the next CR-LF-CR-LF, skipping the empty blocks some servers put after a JPEG."""
        assert self._reader is not None
        for _ in range(MAX_SKIPPED_REPLIES):
            try:
                async with asyncio.timeout(self._timeout):
                    raw = await self._reader.readuntil(END)
            except TimeoutError as exc:
                raise GatewayUnreachable(
                    self._label, f"{method}: no reply within {self._timeout:g} s"
                ) from exc
            except asyncio.LimitOverrunError:
                raise ProtocolError(
                    self._label,
                    f"{method}: a reply header runs past {MAX_TEXT_BYTES} bytes without CR-LF-CR-LF",
                ) from None
            except asyncio.IncompleteReadError as exc:
                raise GatewayUnreachable(
                    self._label, f"{method}: connection closed mid-reply ({len(exc.partial)} bytes)"
                ) from None
            except OSError as exc:
                raise GatewayUnreachable(self._label, f"{method}: {type(exc).__name__}: {exc}") from exc
            block = raw.strip(b"\r\n")
            if block:
                return block
        raise ProtocolError(self._label, f"{method}: only empty lines from the server")

    async def _read_image(self, method: str, block: bytes) -> StoredFrame | None:
        headers = _headers(block)
        length_text = headers.get("content-length", "")
        if not length_text.isdigit():
            raise ProtocolError(self._label, f"{method}: image reply without a numeric Content-length")
        length = int(length_text)
        if length > MAX_FRAME_BYTES:
            raise ProtocolError(self._label, f"{method}: image of {length} bytes (limit {MAX_FRAME_BYTES})")
        assert self._reader is not None
        try:
            async with asyncio.timeout(self._timeout):
                body = await self._reader.readexactly(length)
        except TimeoutError as exc:
            raise GatewayUnreachable(self._label, f"{method}: image bytes stopped coming") from exc
        except asyncio.IncompleteReadError as exc:
            raise ProtocolError(
                self._label, f"{method}: connection closed after {len(exc.partial)} of {length} image bytes"
            ) from None
        if length == 0:
            return None
        times = {}
        for name in ("current", "next", "prev"):
            value = headers.get(name, "")
            if not value.lstrip("-").isdigit():
                raise ProtocolError(self._label, f"{method}: image reply header {name.title()} is {value!r}")
            times[name] = int(value)
        if body[:2] == b"\xff\xd8":
            return StoredFrame(
                self._time(method, times["current"]),
                "mjpeg",
                True,
                body,
                True,
                times["current"],
                times["next"],
                times["prev"],
            )
        return self._unwrap(method, body, times)

    def _unwrap(self, method: str, body: bytes, times: dict[str, int]) -> StoredFrame:
        """The coded picture inside a GenericByteData packet."""
        if len(body) < _GBD.size:
            raise ProtocolError(
                self._label, f"{method}: image of {len(body)} bytes is shorter than its header"
            )
        data_type, total, codec_id, _seq, flags, _sync_ts, picture_ts, _ = _GBD.unpack_from(body)
        if data_type != _GBD_VIDEO:
            raise ProtocolError(
                self._label, f"{method}: GenericByteData type 0x{data_type:04x}, not video (0x0010)"
            )
        if total != len(body):
            raise ProtocolError(
                self._label,
                f"{method}: GenericByteData says {total} bytes but Content-length says {len(body)}",
            )
        codec = GBD_CODECS.get(codec_id)
        if codec is None:
            raise ProtocolError(self._label, f"{method}: unknown GenericByteData codec 0x{codec_id:04x}")
        return StoredFrame(
            self._time(method, picture_ts),
            codec,
            bool(flags & _GBD_SYNC),
            body[_GBD.size :],
            False,
            times["current"],
            times["next"],
            times["prev"],
        )

    def _time(self, method: str, millis: int) -> datetime:
        if not 0 <= millis <= _LATEST_MS:
            raise ProtocolError(self._label, f"{method}: picture time {millis} ms is not a time since 1970")
        return datetime.fromtimestamp(millis / 1000, UTC)


def _headers(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in block.decode("latin-1").splitlines()[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers


def _text(element: ET.Element, tag: str) -> str:
    return (element.findtext(tag) or "").strip()


def _kind(reply: ET.Element | StoredFrame | None) -> str:
    if isinstance(reply, ET.Element):
        return f"<{reply.tag}>"
    return "an image" if reply is not None else "an empty image"


def _millis(when: datetime) -> int:
    if when.tzinfo is None:
        raise ValueError(f"times must be timezone-aware, got {when!r}")
    return round(when.timestamp() * 1000)
