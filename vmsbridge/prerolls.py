"""The pre-roll buffer as the bridge sees it: recorders whose stream health becomes events, and a clip
source that cuts clips out of the buffer.

The recording itself (threads, segments, assembly) is :mod:`recording`'s; this module only speaks the
bridge's language: ``camera.stream_lost`` / ``camera.stream_restored`` on the bus, :class:`ClipSource`
for ``capture_clip``.
"""

from __future__ import annotations

__all__ = [
    "BufferClipSource",
    "PrerollRecorders",
    "RecordedCamera",
    "buffer_store",
    "cameras_to_record",
    "clips_from_buffers",
]

import asyncio
import logging
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from recording.assemble import GAP_TOLERANCE, ClipUnavailable, assemble_when_ready
from recording.live import redact_url
from recording.recorder import RecorderEvent, RecorderSettings, run_recorder
from recording.result import ClipResult
from recording.segments import SegmentStore
from vmsbridge.backoff import Backoff
from vmsbridge.bus import EventSink, publish_durably
from vmsbridge.config import Camera, SiteConfig
from vmsbridge.config.rules import CaptureClip, Rule
from vmsbridge.controls import Controls
from vmsbridge.model import Event, EventKind
from vmsbridge.sources import ClipNotFound, ClipSource

log = logging.getLogger(__name__)

SOURCE = "recorder"
_KINDS = {"stream_lost": EventKind.CAMERA_STREAM_LOST, "stream_restored": EventKind.CAMERA_STREAM_RESTORED}


#: A live address as the camera's connector tells it (asked again until it answers).
AddressLookup = Callable[[], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class RecordedCamera:
    """A camera the bridge keeps a rolling buffer of: its live RTSP address (credentials included), or
    how to ask its connector for it."""

    camera_id: str
    url: str | AddressLookup


def cameras_to_record(
    site: SiteConfig, rules: Sequence[Rule], controls: Controls | None = None
) -> list[RecordedCamera]:
    """The cameras with a live address whose ``record`` setting asks for a buffer.

    The address is the site file's ``stream_uri`` when it gives one, else what the camera's connector
    answers (an ONVIF camera's GetStreamUri); a camera known only through the VMS has neither unless
    the site file names one. ``record = "rules"`` (the default) counts a camera as clippable when a
    ``capture_clip`` action names it, or takes the cameras related to the event (which can be any
    camera covering a device).
    """
    clips = [a for rule in rules for a in rule.actions if isinstance(a, CaptureClip)]
    named = {c for a in clips if isinstance(a.cameras, list) for c in a.cameras}
    any_related = any(not isinstance(a.cameras, list) for a in clips)
    chosen = []
    for camera in site.cameras:
        if camera.record == "never":
            continue
        if not (camera.record == "always" or any_related or camera.id in named):
            continue
        if camera.stream_uri is not None:
            chosen.append(RecordedCamera(camera.id, camera.stream_uri))
            continue
        streams = controls.streams_for(camera) if controls is not None else None
        if streams is not None:
            chosen.append(RecordedCamera(camera.id, _lookup(streams.live_stream_url, camera)))
    return chosen


def _lookup(ask: Callable[[Camera], Awaitable[str]], camera: Camera) -> AddressLookup:
    async def address() -> str:
        return await ask(camera)

    return address


async def _address(camera: RecordedCamera, backoff: Backoff) -> str:
    """The camera's live address; a connector that cannot tell it yet is asked again, with backoff."""
    if isinstance(camera.url, str):
        return camera.url
    while True:
        try:
            url = await camera.url()
        except Exception as exc:  # any failure of the device or its answer: the camera is retried
            wait = backoff.next()
            if backoff.attempts == 1 or backoff.attempts % 10 == 0:
                log.warning(
                    "%s: no live stream address yet (%s); asking again in %.0f s", camera.camera_id, exc, wait
                )
            await asyncio.sleep(wait)
            continue
        log.info("%s: recording %s", camera.camera_id, redact_url(url))
        return url


def buffer_store(data_dir: Path, camera_id: str, settings: RecorderSettings) -> SegmentStore:
    """Where one camera's segments live: ``<data dir>/prerolls/<camera id>``."""
    return SegmentStore(
        data_dir / "prerolls" / camera_id, max_seconds=settings.max_seconds, max_bytes=settings.max_bytes
    )


class PrerollRecorders:
    """An event source (``vmsbridge.sources.EventSource``) that records every camera given until cancelled."""

    def __init__(
        self,
        cameras: Sequence[RecordedCamera],
        data_dir: Path,
        settings: RecorderSettings | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.name = "recorder"
        self.cameras = tuple(cameras)
        self.settings = settings or RecorderSettings()
        self.stores = {c.camera_id: buffer_store(data_dir, c.camera_id, self.settings) for c in cameras}
        self._clock = clock

    def _event(self, camera_id: str, happened: RecorderEvent) -> Event | None:
        kind = _KINDS.get(happened.kind)
        if kind is None:  # storage trouble is the recorder's own log line, not a camera fact
            return None
        return Event(
            source=SOURCE,
            native_id=f"{kind.value}:{camera_id}:{happened.at.isoformat()}",
            kind=kind,
            device_id=camera_id,
            occurred_at=happened.at,
            received_at=self._clock(),
            attributes={"reason": happened.detail[:500]} if happened.detail else {},
        )

    async def run(self, bus: EventSink) -> None:
        queue: asyncio.Queue[Event] = asyncio.Queue()

        def on_event(camera_id: str) -> Callable[[RecorderEvent], None]:
            def put(happened: RecorderEvent) -> None:
                event = self._event(camera_id, happened)
                if event is not None:
                    queue.put_nowait(event)

            return put

        async def deliver() -> None:
            while True:
                event = await queue.get()
                await publish_durably(bus, [event])

        async with asyncio.TaskGroup() as group:
            group.create_task(deliver())
            for camera in self.cameras:
                group.create_task(self._record(camera, on_event(camera.camera_id)))

    async def _record(self, camera: RecordedCamera, on_event: Callable[[RecorderEvent], None]) -> None:
        url = await _address(camera, Backoff(initial=1.0, maximum=self.settings.backoff_cap))
        await run_recorder(url, self.stores[camera.camera_id], self.settings, on_event)


class BufferClipSource:
    """Clips cut from the pre-roll buffer (``vmsbridge.sources.ClipSource``).

    ``fallbacks`` (per camera id): where a window the buffer does not hold is asked for next (the
    camera's connector: a recording on the camera or in the VMS).
    """

    def __init__(
        self,
        stores: Mapping[str, SegmentStore],
        work_dir: Path,
        *,
        wait_seconds: float = 30.0,
        fallbacks: Mapping[str, ClipSource] | None = None,
    ) -> None:
        self.stores = stores
        self.work_dir = work_dir
        self.wait_seconds = wait_seconds
        self.fallbacks = fallbacks or {}

    async def fetch_clip(self, camera_id: str, start: datetime, end: datetime) -> ClipResult:
        store = self.stores.get(camera_id)
        if store is None:
            raise ClipNotFound(f"{camera_id}: not recorded by the bridge")
        fallback = self.fallbacks.get(camera_id)
        if fallback is not None and not await asyncio.to_thread(_reaches_back_to, store, start):
            # A window older than the buffer: the camera's (or the VMS's) recording has all of it.
            log.info("%s: the buffer starts after %s; asking its connector", camera_id, start.isoformat())
            return await fallback.fetch_clip(camera_id, start, end)
        # A folder of its own per clip: two rules clipping the same camera and window at once must not
        # write, or later clean up, each other's file (the rule removes the folder once attached).
        folder = Path(await asyncio.to_thread(_clip_folder, self.work_dir, camera_id))
        out = folder / f"{camera_id}_{start:%Y%m%dT%H%M%S}_{end:%Y%m%dT%H%M%S}.mp4"
        try:
            clip = await assemble_when_ready(store, start, end, out, wait=self.wait_seconds)
        except BaseException as exc:
            await asyncio.to_thread(shutil.rmtree, folder, True)
            if not isinstance(exc, ClipUnavailable):
                raise
            if fallback is None:
                raise ClipNotFound(f"{camera_id}: {exc}") from None
            log.info("%s: %s; asking its connector", camera_id, exc)
            return await fallback.fetch_clip(camera_id, start, end)
        if clip.gaps:  # still evidence: the gaps travel with the clip into its evidence details
            gaps = ", ".join(f"{g.start.isoformat()} for {g.seconds:.1f} s" for g in clip.gaps)
            log.warning("%s: clip %s has gaps: %s", camera_id, out.name, gaps)
        return clip


def clips_from_buffers(
    site: SiteConfig,
    controls: Controls,
    stores: Mapping[str, SegmentStore],
    work_dir: Path,
    *,
    wait_seconds: float = 30.0,
) -> None:
    """Make the buffered cameras' clips come from their buffer first, then from their connector."""
    by_id = {camera.id: camera for camera in site.cameras}
    fallbacks = {
        camera_id: source
        for camera_id in stores
        if camera_id in by_id and (source := controls.clips_for(by_id[camera_id])) is not None
    }
    buffer = BufferClipSource(stores, work_dir, wait_seconds=wait_seconds, fallbacks=fallbacks)
    controls.recorded.update(dict.fromkeys(stores, buffer))


def _reaches_back_to(store: SegmentStore, start: datetime) -> bool:
    segments = store.segments()
    return bool(segments) and segments[0].start <= start + GAP_TOLERANCE


def _clip_folder(work_dir: Path, camera_id: str) -> str:
    work_dir.mkdir(parents=True, exist_ok=True)
    return tempfile.mkdtemp(dir=work_dir, prefix=f"buffer-{camera_id}-")
