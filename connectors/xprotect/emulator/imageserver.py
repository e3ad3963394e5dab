"""An emulated recording server's ImageServer protocol: stored video over TCP, one camera per connection.

The gateway (:class:`~connectors.xprotect.emulator.XProtectEmulator`) issues the VMS tokens
(SOAP ``Login``) and lists the recording server under Config REST ``recordingServers``; once started,
this server is what that item's ``webServerUri`` names, as on a real site.

Protocol as Milestone documents it (``imageserver_request_response.html``, the ``TcpVideoViewer``
sample): requests are ``<methodcall>`` XML documents ending with CR-LF-CR-LF; the first is ``connect``
with ``<connectparam>id=<camera>&amp;connectiontoken=<VMS token></connectparam>``, answered by a
``<methodresponse>`` with ``<connected>yes|no</connected>``. ``goto`` (``<time>``: milliseconds since
1970, UTC), ``next`` and ``previous`` answer one image: a text block starting ``ImageResponse`` with
``Current``, ``Next``, ``Prev`` (milliseconds) and ``Content-length`` headers, a blank line, then that
many bytes. The bytes are a GenericByteData packet (32-byte big-endian header: data type, total
length, codec, sequence number, flags with 0x0001 = sync picture, sync and picture timestamps,
reserved; then the coded picture as stored) or, when the client asked for ``alwaysstdjpeg``, a bare
JPEG.

Choices where the documentation is silent
-----------------------------------------
* ``goto`` lands on the stored picture with the latest time at or before ``<time>`` (the first
  picture when ``<time>`` is before the recording; the latest one recorded when it is in the
  future). ``next``/``previous`` step through the pictures in stored (coding) order; at either end
  (the end being the present for a recording still going on) they answer the same picture again,
  with ``Next`` (or ``Prev``) equal to ``Current``.
* A refused ``connect`` answers ``<connected>no</connected>`` with ``<errorreason>`` and closes the
  connection; so does any other request before a successful ``connect``. ``live`` and methods this
  emulator does not know answer a ``<methodresponse>`` with ``<errorreason>``.
* A bare JPEG is followed by CR-LF-CR-LF (the sample reads it so); a GenericByteData packet is not.

Quirks (:class:`ImageServerQuirks`): ``jpeg_only`` answers every image as a bare JPEG (a server that
transcodes whatever the client asks); ``malformed_framing`` gives the 10th image of a connection a
GenericByteData length that disagrees with its ``Content-length``.
"""

from __future__ import annotations

__all__ = ["GBD_CODECS", "ImageServerEmulator", "ImageServerQuirks"]

import asyncio
import contextlib
import dataclasses
import logging
import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Final

from connectors.emulation import SwitchableQuirks
from connectors.xprotect.emulator.recording import Recording

if TYPE_CHECKING:
    from connectors.xprotect.emulator.server import XProtectEmulator

log = logging.getLogger(__name__)

END: Final = b"\r\n\r\n"
GBD_CODECS: Final = {"h264": 0x000A, "hevc": 0x000E, "mjpeg": 0x0001}
_GBD_HEADER: Final = struct.Struct(">HIHHHQQI")
_VIDEO: Final = 0x0010
_SYNC: Final = 0x0001
_MAX_REQUEST: Final = 64 * 1024
_MALFORMED_AT: Final = 10
_MAX_GOP: Final = 1000  # pictures searched back for the sync picture a header names


@dataclass
class ImageServerQuirks(SwitchableQuirks):
    """Real-world misbehaviour of the recording server, all off by default."""

    jpeg_only: bool = False
    malformed_framing: bool = False

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if not isinstance(getattr(self, f.name), bool):
                raise ValueError(f"{f.name} must be a bool, got {getattr(self, f.name)!r}")


@dataclass
class _Connection:
    camera: str | None = None
    jpeg: bool = False
    position: int = 0
    images: int = 0


class ImageServerEmulator:
    """One emulated recording server on one TCP port; an async context manager.

    ``recordings`` maps camera ids (as the gateway lists them) to what is stored for them.
    ``counters``: ``connect`` (accepted), ``refused``, ``requests`` and ``images`` (answered).
    """

    def __init__(
        self,
        gateway: XProtectEmulator,
        recordings: dict[str, Recording],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.gateway = gateway
        self.recordings = recordings
        self.quirks = ImageServerQuirks()
        self.counters: dict[str, int] = {"connect": 0, "refused": 0, "requests": 0, "images": 0}
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the ImageServer emulator is not started")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        """What the gateway's ``recordingServers`` item gives as ``webServerUri``."""
        host = "127.0.0.1" if self._host in ("", "0.0.0.0") else self._host
        return f"http://{host}:{self.port}/"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self._host, self._port, limit=_MAX_REQUEST)
        recorder = self.gateway._config["recordingServers"][self.gateway._recorder_id]
        recorder["webServerUri"] = self.url
        recorder["hostName"] = self._host
        recorder["portNumber"] = self.port
        log.debug("ImageServer emulator listening on %s", self.url)

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> ImageServerEmulator:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # -- one connection -----------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        state = _Connection()
        try:
            while True:
                try:
                    raw = await reader.readuntil(END)
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                self.counters["requests"] += 1
                if not await self._answer(raw, state, writer):
                    return
                await writer.drain()
        except ConnectionError:
            return
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(self, raw: bytes, state: _Connection, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False closes the connection."""
        try:
            call = ET.fromstring(raw.strip())
        except ET.ParseError:
            writer.write(_response("", "", errorreason="the request is not an XML methodcall"))
            return False
        method = (call.findtext("methodname") or "").strip().lower()
        request_id = (call.findtext("requestid") or "").strip()
        if method in ("connect", "connectupdate"):
            return self._connect(call, method, request_id, state, writer)
        if state.camera is None:
            writer.write(_response(request_id, method, connected="no", errorreason="not connected"))
            return False
        if method in ("goto", "next", "previous"):
            recording = self.recordings[state.camera]
            jpeg = state.jpeg or self.quirks.jpeg_only
            await asyncio.to_thread(recording.one_pass, jpeg=jpeg)  # JPEGs are made on first use
            last = recording.last_position(jpeg=jpeg)
            if method == "goto":
                try:
                    when = int((call.findtext("time") or "").strip())
                except ValueError:
                    writer.write(
                        _response(request_id, method, errorreason="time must be milliseconds since 1970")
                    )
                    return True
                state.position = recording.position_at(when, jpeg=jpeg)
            elif method == "next":
                state.position = min(state.position + 1, last)
            else:
                state.position = max(state.position - 1, 0)
            self._write_image(request_id, state, recording, jpeg, last, writer)
            return True
        writer.write(
            _response(request_id, method, errorreason=f"{method or 'an empty method'} is not emulated")
        )
        return True

    def _connect(
        self, call: ET.Element, method: str, request_id: str, state: _Connection, writer: asyncio.StreamWriter
    ) -> bool:
        params = dict(
            part.split("=", 1) for part in (call.findtext("connectparam") or "").split("&") if "=" in part
        )
        camera = params.get("id") or (call.findtext("cameraid") or "").strip()
        problem = self.gateway.vms_token_problem(params.get("connectiontoken", ""))
        if problem is None and camera not in self.recordings:
            problem = f"no recordings for camera {camera}"
        if problem is None and method == "connectupdate" and camera != state.camera:
            problem = "connectupdate names another camera"
        if problem is not None:
            self.counters["refused"] += 1
            writer.write(_response(request_id, method, connected="no", errorreason=problem))
            return False
        self.counters["connect"] += 1
        if method == "connect":
            state.camera = camera
            state.jpeg = (call.findtext("alwaysstdjpeg") or "").strip().lower() == "yes"
            state.position = 0
        writer.write(_response(request_id, method, connected="yes"))
        return True

    def _write_image(
        self,
        request_id: str,
        state: _Connection,
        recording: Recording,
        jpeg: bool,
        last: int,
        writer: asyncio.StreamWriter,
    ) -> None:
        at = state.position
        picture = recording.picture(at, jpeg=jpeg)
        following = recording.picture(min(at + 1, last), jpeg=jpeg).time_ms
        before = recording.picture(max(at - 1, 0), jpeg=jpeg).time_ms
        state.images += 1
        self.counters["images"] += 1
        if jpeg:
            body, content_type, trailer = picture.data, "image/jpeg", END
        else:
            sync = next(
                (
                    p.time_ms
                    for p in (recording.picture(i, jpeg=False) for i in range(at, max(-1, at - _MAX_GOP), -1))
                    if p.keyframe
                ),
                picture.time_ms,
            )
            total = _GBD_HEADER.size + len(picture.data)
            if self.quirks.malformed_framing and state.images == _MALFORMED_AT:
                total += 1000
            flags = _SYNC if picture.keyframe else 0
            codec = GBD_CODECS[recording.codec]
            header = _GBD_HEADER.pack(_VIDEO, total, codec, at & 0xFFFF, flags, sync, picture.time_ms, 0)
            body, content_type, trailer = (
                header + picture.data,
                "application/x-genericbytedata-octet-stream",
                b"",
            )
        head = (
            f"ImageResponse\r\nRequestId: {request_id}\r\nCurrent: {picture.time_ms}\r\nNext: {following}\r\n"
            f"Prev: {before}\r\nContent-type: {content_type}\r\nContent-length: {len(body)}\r\n\r\n"
        )
        writer.write(head.encode("ascii") + body + trailer)


def _response(request_id: str, method: str, **fields: str) -> bytes:
    root = ET.Element("methodresponse")
    ET.SubElement(root, "requestid").text = request_id
    ET.SubElement(root, "methodname").text = method
    for name, value in fields.items():
        ET.SubElement(root, name).text = value
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        + bytes(ET.tostring(root, encoding="utf-8", xml_declaration=False))
        + END
    )
