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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from recording.assemble import ClipUnavailable, assemble_when_ready
from recording.recorder import RecorderEvent, RecorderSettings, run_recorder
from recording.result import ClipResult
from recording.segments import SegmentStore
from vmsbridge.bus import EventSink, publish_durably
from vmsbridge.config import SiteConfig
from vmsbridge.config.rules import CaptureClip, Rule
from vmsbridge.controls import Controls
from vmsbridge.model import Event, EventKind
from vmsbridge.sources import ClipNotFound, ClipSource

log = logging.getLogger(__name__)

SOURCE = "recorder"
_KINDS = {"stream_lost": EventKind.CAMERA_STREAM_LOST, "stream_restored": EventKind.CAMERA_STREAM_RESTORED}


@dataclass(frozen=True, slots=True)
class RecordedCamera:
    """A camera the bridge keeps a rolling buffer of: its live RTSP address (credentials included)."""

    camera_id: str
    url: str


def cameras_to_record(site: SiteConfig, rules: Sequence[Rule]) -> list[RecordedCamera]:
    """The cameras with a ``stream_uri`` whose ``record`` setting asks for a buffer.

    ``record = "rules"`` (the default) counts a camera as clippable when a ``capture_clip`` action names
    it, or takes the cameras related to the event (which can be any camera covering a device).
    """
    clips = [a for rule in rules for a in rule.actions if isinstance(a, CaptureClip)]
    named = {c for a in clips if isinstance(a.cameras, list) for c in a.cameras}
    any_related = any(not isinstance(a.cameras, list) for a in clips)
    chosen = []
    for camera in site.cameras:
        if camera.stream_uri is None or camera.record == "never":
            continue
        if camera.record == "always" or any_related or camera.id in named:
            chosen.append(RecordedCamera(camera.id, camera.stream_uri))
    return chosen


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
                store = self.stores[camera.camera_id]
                group.create_task(run_recorder(camera.url, store, self.settings, on_event(camera.camera_id)))


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
        out = self.work_dir / f"{camera_id}_{start:%Y%m%dT%H%M%S}_{end:%Y%m%dT%H%M%S}.mp4"
        try:
            clip = await assemble_when_ready(store, start, end, out, wait=self.wait_seconds)
        except ClipUnavailable as exc:
            fallback = self.fallbacks.get(camera_id)
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
