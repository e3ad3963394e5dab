"""What the bridge makes an ONVIF device do for a rule: PTZ go-to, and clips from its recordings.

The control channel is its own connection, separate from the event subscription, so a PullPoint
long-poll or a reconnect there never delays a PTZ command.
"""

from __future__ import annotations

__all__ = ["OnvifControl", "build_onvif_controls"]

import asyncio
import logging
import shutil
import tempfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from connectors.onvif.client import OnvifClient, Recording
from connectors.onvif.config import OnvifSource, onvif_connectors
from connectors.onvif.errors import OnvifError
from recording.replay import ReplayRequest, replay_clip
from recording.result import ClipResult, Gap
from recording.rtsp import RtspError
from vmsbridge.config import Camera, SiteConfig, resolve_secret
from vmsbridge.controls import Controls, PtzMove
from vmsbridge.sources import ClipNotFound

log = logging.getLogger(__name__)


class OnvifControl:
    def __init__(self, connector: OnvifSource, password: str, cameras: list[Camera], work_dir: Path) -> None:
        self.connector = connector
        self.client = OnvifClient(connector.id, connector.host, connector.port, connector.username, password)
        self._password = password  # the device's RTSP server asks for the same user
        self._cameras = {c.id: c for c in cameras}
        self._work_dir = work_dir
        self._connecting = asyncio.Lock()
        # The ONVIF library creates a service on first use without a lock: the recorder asks for every
        # camera's address at once, and two creations racing leave one HTTP session never closed.
        self._asking_streams = asyncio.Lock()

    async def _ready(self) -> OnvifClient:
        async with self._connecting:
            if not self.client.connected:
                await self.client.connect()
        return self.client

    async def _forget_connection(self) -> None:
        # The next command reconnects from scratch (a rebooted camera, a changed clock).
        await self.client.disconnect()

    async def close(self) -> None:
        await self.client.close()

    async def goto_preset(self, camera: Camera, preset_token: str, *, settle_seconds: float) -> PtzMove:
        profile = _profile_of(camera)
        client = await self._ready()
        sent_at = datetime.now(UTC)
        try:
            result = await client.goto_preset(profile, preset_token, settle_timeout=settle_seconds)
        except OnvifError:
            await self._forget_connection()
            raise
        position = None
        try:
            position = await client.ptz_position(profile)
        except OnvifError as exc:  # the move happened; a status that cannot be read is a detail
            log.info("%s: GetStatus after the move failed: %s", self.connector.id, exc)
        return PtzMove(sent_at, result.ack_seconds, result.settled_seconds, position)

    async def fetch_clip(self, camera_id: str, start: datetime, end: datetime) -> ClipResult:
        """Video for the window from the device's own recording, over ONVIF replay (Profile G)."""
        camera = self._cameras.get(camera_id)
        if camera is None:
            raise ClipNotFound(f"camera {camera_id} is not on ONVIF connector {self.connector.id}")
        return await self._replay(camera, start, end)

    async def live_stream_url(self, camera: Camera) -> str:
        """GetStreamUri of the camera's media profile, with the connector's user and password in it
        (the device's RTSP server asks for the same account as its SOAP services)."""
        try:
            async with self._asking_streams:
                uri = await (await self._ready()).stream_uri(_profile_of(camera))
        except OnvifError:
            await self._forget_connection()
            raise
        return with_credentials(uri, self.connector.username, self._password)

    async def _recording_of(self, camera: Camera) -> Recording:
        client = await self._ready()
        profile = _profile_of(camera)
        try:
            source = next((p.video_source for p in await client.profiles() if p.token == profile), None)
            recordings = await client.recordings()
        except OnvifError as exc:
            await self._forget_connection()
            raise ClipNotFound(
                f"camera {camera.id}: the device lists no recordings (Profile G): {exc}"
            ) from exc
        matching = [r for r in recordings if r.source == source] or (
            recordings if len(recordings) == 1 else []
        )
        if not matching:
            raise ClipNotFound(
                f"camera {camera.id}: none of the device's {len(recordings)} recordings is of video source "
                f"{source!r} (profile {profile!r})"
            )
        return matching[0]

    async def _replay(self, camera: Camera, start: datetime, end: datetime) -> ClipResult:
        """The window from the device's recording over ONVIF replay (Profile G)."""
        recording = await self._recording_of(camera)
        client = await self._ready()
        # The recording is stamped by the device clock; ask in its time.
        skew = client.skew
        if recording.latest is not None and start + skew > recording.latest:
            raise ClipNotFound(
                f"camera {camera.id}: recording {recording.token} ends at {recording.latest.isoformat()}, "
                f"before the window starts"
            )
        try:
            uri = await client.replay_uri(recording.token)
        except OnvifError as exc:
            await self._forget_connection()
            raise ClipNotFound(f"camera {camera.id}: no replay address for {recording.token}: {exc}") from exc
        folder = Path(await asyncio.to_thread(_download_folder, self._work_dir, camera.id))
        target = folder / f"{camera.id}_{start:%Y%m%dT%H%M%S}_{end:%Y%m%dT%H%M%S}.mp4"
        request = ReplayRequest(uri, start + skew, end + skew, self.connector.username, self._password)
        try:
            result = await replay_clip(request, target)
        except BaseException as exc:
            await asyncio.to_thread(shutil.rmtree, folder, True)
            if isinstance(exc, RtspError | ValueError):
                raise ClipNotFound(f"camera {camera.id}: replay of {recording.token} failed: {exc}") from exc
            raise
        # Back from the device's clock to ours, the clock evidence windows are in.
        result = replace(
            result,
            start=result.start - skew,
            end=result.end - skew,
            gaps=tuple(Gap(g.start - skew, g.end - skew) for g in result.gaps),
        )
        for gap in result.gaps:
            log.info("camera %s: replayed clip has no video %s-%s", camera.id, gap.start, gap.end)
        return result


def with_credentials(uri: str, username: str, password: str) -> str:
    """``uri`` with the account in its authority (percent-encoded); a URI that names one keeps its own."""
    parts = urlsplit(uri)
    if not parts.scheme.startswith("rtsp"):
        raise ValueError(f"GetStreamUri: expected an rtsp:// address, got {parts.scheme or uri!r}")
    if parts.username is not None or not username:
        return uri
    account = f"{quote(username, safe='')}:{quote(password, safe='')}"
    return urlunsplit(parts._replace(netloc=f"{account}@{parts.netloc}"))


def _download_folder(work_dir: Path, camera_id: str) -> str:
    work_dir.mkdir(parents=True, exist_ok=True)
    return tempfile.mkdtemp(dir=work_dir, prefix=f"clip-{camera_id}-")


def _profile_of(camera: Camera) -> str:
    if not camera.source.profile:
        raise ValueError(f"camera {camera.id} has no ONVIF media profile in the site configuration")
    return camera.source.profile


def build_onvif_controls(site: SiteConfig, work_dir: Path) -> Controls:
    controls = Controls()
    for i, connector in enumerate(onvif_connectors(site)):
        cameras = [c for c in site.cameras if c.source.connector == connector.id and c.source.profile]
        if not cameras:
            continue
        password = resolve_secret(f"connectors.onvif[{i}]", connector)
        control = OnvifControl(connector, password, cameras, work_dir / connector.id)
        controls.ptz[connector.id] = control
        controls.clips[connector.id] = control
        controls.streams[connector.id] = control
        controls.closers.append(control.close)
    return controls
