"""The pre-roll recorder: one camera's live stream kept on disk as a rolling buffer of short segments.

Each camera's recorder runs in its own thread (PyAV blocks); :func:`run_recorder` wraps it for asyncio and
hands its :class:`RecorderEvent` s to the loop. Segments start on keyframes, hold the packets as received
(never decoded), and carry real (wall-clock) times: the stream's own timestamps, anchored to the wall
clock by the least-delayed packets (see :mod:`recording.timing`).

The recorder never gives up: a lost stream is reported once and retried with capped backoff; a full or
unwritable disk is reported once, the oldest segments make room, and recording goes on with what fits.
"""

from __future__ import annotations

__all__ = ["RecorderEvent", "RecorderSettings", "SegmentRecorder", "run_recorder"]

import asyncio
import contextlib
import errno
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Literal

import av
import av.error

from recording.live import RecordingError, StreamStopped, open_live, redact_url
from recording.segments import Segment, SegmentStore
from recording.timing import WallClock

log = logging.getLogger("recording.recorder")

EventKind = Literal["stream_lost", "stream_restored", "storage_failed", "storage_recovered"]

#: A larger step between two packets' timestamps (or any step back) is a discontinuity, not a pause.
MAX_STEP = 10.0


@dataclass(frozen=True, slots=True)
class RecorderEvent:
    """Something an operator should know: the stream went away or came back, the disk failed or recovered."""

    kind: EventKind
    at: datetime
    detail: str = ""


@dataclass(frozen=True, slots=True)
class RecorderSettings:
    """How one camera is recorded.

    ``opener`` exists so tests can put a write quota in the way; without it FFmpeg writes the file itself,
    which costs less CPU than writing through a Python file object.
    """

    segment_seconds: float = 4.0
    max_seconds: float = 300.0
    max_bytes: int = 1_000_000_000
    open_timeout: float = 10.0
    read_timeout: float = 10.0
    backoff_first: float = 0.5
    backoff_cap: float = 30.0
    opener: Callable[[Path], BinaryIO] | None = None

    def __post_init__(self) -> None:
        if not 1.0 <= self.segment_seconds <= 10.0:
            raise ValueError(f"segment_seconds: expected 1 to 10 seconds, got {self.segment_seconds}")
        if self.max_seconds < self.segment_seconds:
            raise ValueError(f"max_seconds: expected at least segment_seconds, got {self.max_seconds}")
        if self.max_bytes <= 0:
            raise ValueError(f"max_bytes: expected a positive number, got {self.max_bytes}")


class _SegmentWriter:
    """One segment being written: a ``.part`` file holding a remux of the packets (the store's container).

    ``first``/``last`` are stream times (seconds) of its first packet and of the end of its last one.
    """

    def __init__(
        self, store: SegmentStore, first: float, template: Any, opener: Callable[[Path], BinaryIO] | None
    ) -> None:
        self.first = self.last = first
        self.part = store.part_path(datetime.now(UTC))
        self._last_dts: int | None = None
        self._file = opener(self.part) if opener is not None else None
        try:
            self._container = av.open(self._file or str(self.part), "w", format=store.container)
            self._stream = self._container.add_stream_from_template(template)
        except BaseException:
            if self._file is not None:
                self._file.close()
            self.part.unlink(missing_ok=True)
            raise

    def write(self, packet: Any, last: float) -> None:
        # Some servers repeat a timestamp (e.g. an access unit split in two); muxers need dts to advance.
        if packet.dts is not None and self._last_dts is not None and packet.dts <= self._last_dts:
            shift = self._last_dts + 1 - packet.dts
            packet.dts += shift
            if packet.pts is not None:
                packet.pts += shift
        packet.stream = self._stream
        self._container.mux(packet)
        self._last_dts = packet.dts if packet.dts is not None else self._last_dts
        self.last = max(self.last, last)

    def finish(self) -> None:
        """Flush to disk (so a rename never publishes a segment the page cache still owes)."""
        self._container.close()
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            return
        descriptor = os.open(self.part, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

    def abandon(self) -> None:
        # The write that failed already said why; closing may fail the same way.
        closers = [self._container.close] + ([self._file.close] if self._file is not None else [])
        for close in closers:
            with contextlib.suppress(OSError, av.error.FFmpegError, ValueError):
                close()
        self.part.unlink(missing_ok=True)


class SegmentRecorder:
    """Records one stream into one :class:`SegmentStore` until :meth:`stop`; run :meth:`run` in a thread."""

    def __init__(
        self,
        url: str,
        store: SegmentStore,
        settings: RecorderSettings | None = None,
        on_event: Callable[[RecorderEvent], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self.store = store
        self.settings = settings or RecorderSettings()
        self._on_event = on_event or (lambda event: None)
        self._clock = clock
        self._stop = threading.Event()
        self._lost = False
        self._storage_failed = False
        self._byte_budget: int | None = None
        self._recent_sizes: deque[int] = deque(maxlen=5)
        self.connected = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def _emit(self, kind: EventKind, detail: str = "") -> None:
        try:
            self._on_event(RecorderEvent(kind=kind, at=self._now(), detail=detail))
        except Exception:  # a listener's bug must not stop the recording
            log.exception("recorder event listener failed")

    def run(self) -> None:
        """Connect, record, reconnect with backoff: until :meth:`stop`. Blocks."""
        opened = False
        delay = self.settings.backoff_first
        while not self._stop.is_set():
            if not opened:
                try:
                    self.store.open()
                    opened = True
                except OSError as exc:  # e.g. the data directory is not writable: said once, tried again
                    self._storage_failure(exc)
                    self._stop.wait(self.settings.backoff_cap)
                    continue
            try:
                live = open_live(
                    self.url, open_timeout=self.settings.open_timeout, read_timeout=self.settings.read_timeout
                )
            except RecordingError as exc:
                self._stream_lost(str(exc))
                self._stop.wait(delay)
                delay = min(delay * 2, self.settings.backoff_cap)
                continue
            delay = self.settings.backoff_first
            if self._lost:
                self._lost = False
                log.info("%s: stream restored", redact_url(self.url))
                self._emit("stream_restored")
            self.connected.set()
            try:
                self._record(live)
            except StreamStopped as exc:
                if not self._stop.is_set():
                    self._stream_lost(str(exc))
            finally:
                self.connected.clear()
                live.close()

    def _stream_lost(self, reason: str) -> None:
        if not self._lost:
            self._lost = True
            log.warning("%s", reason)
            self._emit("stream_lost", reason)

    def _record(self, live: Any) -> None:
        time_base = live.video.time_base
        clock = WallClock()
        writer: _SegmentWriter | None = None
        last_t: float | None = None
        frame = 0.04
        try:
            for packet in live.packets():
                if self._stop.is_set():
                    break
                # Decode time: presentation time goes back with B-frames and would look like a jump.
                ts = packet.dts if packet.dts is not None else packet.pts
                if ts is None:
                    continue  # nothing places this packet in time
                t = float(ts * time_base)
                if last_t is not None and not 0 <= t - last_t <= MAX_STEP:
                    # The stream's clock jumped: what follows starts a new segment on a new anchor.
                    if writer is not None:
                        self._finish(writer, clock)
                        writer = None
                    clock = WallClock()
                elif last_t is not None and t > last_t:
                    frame = min(t - last_t, 1.0)
                last_t = t
                clock.observe(t, self._clock())
                if packet.is_keyframe and (
                    writer is None or t - writer.first >= self.settings.segment_seconds
                ):
                    if writer is not None:
                        self._finish(writer, clock)
                        clock.roll()
                    writer = self._begin(t, live.video)
                if writer is None:
                    continue  # before the first keyframe, or the disk refused the segment
                try:
                    writer.write(packet, t + frame)
                except (OSError, av.error.FFmpegError) as exc:
                    self._storage_failure(exc)
                    writer.abandon()
                    writer = None
        finally:
            if writer is not None:
                self._finish(writer, clock)

    def _begin(self, first: float, template: Any) -> _SegmentWriter | None:
        self._make_room()
        try:
            return _SegmentWriter(self.store, first, template, self.settings.opener)
        except (OSError, av.error.FFmpegError) as exc:
            self._storage_failure(exc)
            return None

    def _finish(self, writer: _SegmentWriter, clock: WallClock) -> Segment | None:
        try:
            writer.finish()
            segment = self.store.complete(writer.part, clock.at(writer.first), clock.at(writer.last))
        except (OSError, av.error.FFmpegError) as exc:
            self._storage_failure(exc)
            writer.abandon()
            return None
        self._recent_sizes.append(segment.size)
        if self._storage_failed:
            self._storage_failed = False
            log.info("%s: segments are written again", self.store.directory)
            self._emit("storage_recovered")
        self.store.prune()
        return segment

    def _storage_failure(self, exc: BaseException) -> None:
        """Say so once; make room by dropping the oldest segment so the newest can be kept."""
        full = getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT)
        if not self._storage_failed:
            self._storage_failed = True
            what = "disk full" if full else "cannot write segments"
            reason = getattr(exc, "strerror", None) or str(exc)
            log.error("%s: %s (%s); keeping the newest segments that fit", self.store.directory, what, reason)
            self._emit("storage_failed", f"{what}: {reason}")
        if full:
            # What was on disk when it filled up is what fits: from now on the buffer stays under that.
            self._byte_budget = sum(seg.size for seg in self.store.segments())
            self.store.drop_oldest()

    def _make_room(self) -> None:
        """Under a learned byte budget (the disk filled up once), drop the oldest before writing anew."""
        if self._byte_budget is None or not self._recent_sizes:
            return
        expected = int(max(self._recent_sizes) * 1.25)
        segments = self.store.segments()
        total = sum(seg.size for seg in segments)
        while segments and total + expected > self._byte_budget:
            oldest = segments.pop(0)
            self.store.drop(oldest)
            total -= oldest.size


async def run_recorder(
    url: str,
    store: SegmentStore,
    settings: RecorderSettings | None = None,
    on_event: Callable[[RecorderEvent], None] | None = None,
) -> None:
    """Record until cancelled; ``on_event`` is called on the event loop, never from the recording thread."""
    loop = asyncio.get_running_loop()

    def from_thread(event: RecorderEvent) -> None:
        if on_event is not None:
            loop.call_soon_threadsafe(on_event, event)

    recorder = SegmentRecorder(url, store, settings, from_thread)
    thread_done = asyncio.ensure_future(asyncio.to_thread(recorder.run))
    try:
        await asyncio.shield(thread_done)
    finally:
        recorder.stop()
        # The thread notices within one read timeout and closes its last segment properly.
        await asyncio.wait({thread_done})
