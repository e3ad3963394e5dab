"""Clips from an XProtect recording server (ImageServer protocol); the export folder is the second path.

For a window, :class:`RecordedClipSource` finds the camera's recording server the way the API Gateway
exposes it (Config REST: camera -> parent hardware -> parent ``recordingServers`` item ->
``webServerUri``), exchanges the gateway's bearer token for a VMS token (SOAP ``Login``), and pulls the
stored pictures into an MP4 (:mod:`connectors.xprotect.recorded`) in a folder of its own under the
work folder. When that fails and an export folder is configured, the export folder is asked instead.
"""

from __future__ import annotations

__all__ = ["RecordedClipSource", "recorder_tls"]

import asyncio
import logging
import shutil
import ssl
import tempfile
import uuid
from datetime import datetime
from pathlib import Path

from connectors.xprotect.client import XProtectClient
from connectors.xprotect.errors import AuthenticationFailed, ProtocolError, XProtectError
from connectors.xprotect.imageserver import ImageServerSession, RecorderAddress
from connectors.xprotect.recorded import collect_window, write_clip
from connectors.xprotect.vmslogin import VmsToken, vms_login
from recording.result import ClipResult
from vmsbridge.sources import ClipNotFound, ClipSource

log = logging.getLogger(__name__)


class RecordedClipSource:
    def __init__(
        self,
        client: XProtectClient,
        camera_ids: dict[str, str],
        work_dir: Path,
        *,
        fallback: ClipSource | None = None,
        timeout: float = 15.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """``camera_ids``: site camera id -> XProtect camera id. ``fallback``: asked when the recording
        server cannot give the window (the export folder). ``ssl_context``: for recorders whose
        ``webServerUri`` is https (default: the system's trust store)."""
        self.client = client
        self._camera_ids = camera_ids
        self._work_dir = work_dir
        self._fallback = fallback
        self._timeout = timeout
        self._ssl = ssl_context
        self._instance = uuid.uuid4()
        self._token = VmsToken()
        self._token_lock = asyncio.Lock()
        self._recorders: dict[str, RecorderAddress] = {}

    async def fetch_clip(self, camera_id: str, start: datetime, end: datetime) -> ClipResult:
        vms_camera = self._camera_ids.get(camera_id)
        try:
            if vms_camera is None:
                raise ClipNotFound(f"camera {camera_id} has no XProtect camera id")
            folder = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="xprotect-", dir=self._work_dir))
            out = folder / f"{camera_id}-{start.strftime('%Y%m%dT%H%M%S')}.mp4"
            try:
                result = await self.fetch(vms_camera, start, end, out)
            except BaseException:
                await asyncio.to_thread(shutil.rmtree, folder, True)
                raise
        except (XProtectError, ClipNotFound) as exc:
            if self._fallback is None:
                raise ClipNotFound(f"recorded video for camera {camera_id}: {exc}") from exc
            log.warning("recorded video for camera %s: %s; asking the export folder", camera_id, exc)
            return await self._fallback.fetch_clip(camera_id, start, end)
        return result

    async def fetch(self, vms_camera_id: str, start: datetime, end: datetime, out: Path) -> ClipResult:
        """The camera's stored video for [start, end] written to ``out``."""
        recorder = await self.recorder_of(vms_camera_id)
        label = f"XProtect {self.client.gateway_id}"
        for attempt in (1, 2):
            # A refused token may have expired early on the server: log in again once.
            token = await self._vms_token(renew=attempt == 2)
            session = ImageServerSession(
                recorder, vms_camera_id, token, label=label, timeout=self._timeout, ssl_context=self._ssl
            )
            try:
                await session.open()
            except AuthenticationFailed as exc:
                if attempt == 2:
                    raise
                log.info("%s; logging in again", exc)
                continue
            try:
                frames = await collect_window(session, start, end)
            finally:
                await session.close()
            return await asyncio.to_thread(write_clip, frames, (start, end), out)
        raise AssertionError("unreachable")

    async def recorder_of(self, vms_camera_id: str) -> RecorderAddress:
        """The camera's recording server, from Config REST (cached)."""
        if vms_camera_id not in self._recorders:
            await self.client.open()
            camera = await self.client.get_item("cameras", vms_camera_id)
            hardware = await self.client.get_item(
                "hardware", _parent(camera, "hardware", self.client.gateway_id)
            )
            server = await self.client.get_item(
                "recordingServers", _parent(hardware, "recordingServers", self.client.gateway_id)
            )
            uri = server.get("webServerUri")
            try:
                self._recorders[vms_camera_id] = RecorderAddress.from_uri(str(uri or ""))
            except ValueError as exc:
                raise ProtocolError(
                    self.client.gateway_id, f"recordingServers {server.get('id')}: {exc}"
                ) from None
        return self._recorders[vms_camera_id]

    async def _vms_token(self, *, renew: bool = False) -> str:
        async with self._token_lock:
            if renew or not self._token.fresh:
                await self.client.open()
                self._token = await vms_login(self.client, self._instance)
            return self._token.token


def _parent(item: dict[str, object], kind: str, gateway: str) -> str:
    relations = item.get("relations")
    parent = relations.get("parent") if isinstance(relations, dict) else None
    if not isinstance(parent, dict) or parent.get("type") != kind or not parent.get("id"):
        raise ProtocolError(gateway, f"{item.get('id')}: relations.parent is not a {kind} item")
    return str(parent["id"])


def recorder_tls(ca_file: Path | None, insecure: bool) -> ssl.SSLContext | None:
    """The TLS settings of the connector's gateway, for its recording servers too."""
    if insecure:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if ca_file is not None:
        return ssl.create_default_context(cafile=str(ca_file))
    return None
