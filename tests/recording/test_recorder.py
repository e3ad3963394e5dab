"""The pre-roll recorder against GStreamer's RTSP server: segments, reconnects, a full disk, kill -9."""

from __future__ import annotations

import asyncio
import errno
import io
import itertools
import os
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import av

from recording.assemble import assemble_clip
from recording.recorder import RecorderEvent, RecorderSettings, run_recorder
from recording.segments import SegmentStore
from tests.recording.rtsp_peer import ROOT, GstRtspPeer, slice_hashes

LIMIT = 60.0  # seconds any awaited condition may take on a busy machine
FAST = RecorderSettings(segment_seconds=2.0, read_timeout=5.0, backoff_first=0.2, backoff_cap=1.0)


async def _until(condition: Callable[[], bool], what: str, limit: float = LIMIT) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not condition():
        assert loop.time() < deadline, f"waited {limit:g} s for {what}"
        await asyncio.sleep(0.1)


def _first_packet_is_keyframe(path: Path) -> bool:
    with av.open(str(path)) as container:
        for packet in container.demux(container.streams.video[0]):
            if packet.size:
                return bool(packet.is_keyframe)
    return False


async def test_segments_start_on_keyframes_and_a_lost_stream_comes_back(
    rtsp_peer: GstRtspPeer, h264_media: Path, tmp_path: Path
) -> None:
    store = SegmentStore(tmp_path / "camera-1")
    events: list[RecorderEvent] = []
    began = datetime.now(UTC)
    recording = asyncio.create_task(run_recorder(rtsp_peer.url("live"), store, FAST, events.append))
    try:
        await _until(lambda: len(store.segments()) >= 2, "two complete segments")
        rtsp_peer.stop()
        await _until(lambda: [e.kind for e in events] == ["stream_lost"], "the stream_lost event")
        lost_at = datetime.now(UTC)
        await asyncio.to_thread(rtsp_peer.start)
        await _until(
            lambda: [e.kind for e in events] == ["stream_lost", "stream_restored"], "stream_restored"
        )
        await _until(
            lambda: sum(s.start > lost_at for s in store.segments()) >= 2, "segments after the restart"
        )
    finally:
        recording.cancel()
        await asyncio.gather(recording, return_exceptions=True)

    segments = store.segments()
    assert all(_first_packet_is_keyframe(s.path) for s in segments), "a segment does not start on a keyframe"
    # A segment followed without a break lasts about segment_seconds (keyframes are 1 s apart); the one cut
    # short by the server stopping may be shorter.
    followed = [a for a, b in itertools.pairwise(segments) if (b.start - a.end).total_seconds() < 0.5]
    lengths = [s.seconds for s in segments]
    assert len(followed) >= 2, lengths
    assert all(1.5 <= s.seconds <= 3.5 for s in followed), lengths
    assert not list(store.directory.glob("*.part")), "a stopped recorder left a .part"
    assert began - timedelta(seconds=3) <= segments[0].start <= lost_at

    clip = await asyncio.to_thread(
        assemble_clip, store, segments[0].start, segments[-1].end, tmp_path / "clip.mp4"
    )
    assert len(clip.gaps) == 1, clip.gaps
    gap = clip.gaps[0]
    assert gap.start < lost_at < gap.end, "the gap is not where the server was down"
    assert set(slice_hashes(clip.file)) <= set(slice_hashes(h264_media)), "the clip holds pictures not sent"


class _QuotaFile(io.FileIO):
    """A file in a directory limited to ``limit`` bytes in all: a small disk, without mounting one."""

    def __init__(self, path: Path, limit: int) -> None:
        super().__init__(path, "wb")
        self._directory, self._limit = path.parent, limit

    def write(self, data: Any) -> int:
        used = sum(f.stat().st_size for f in self._directory.iterdir() if f.is_file())
        if used + len(data) > self._limit:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().write(data)


async def test_a_full_disk_is_reported_once_and_the_newest_segments_kept(
    rtsp_peer: GstRtspPeer, tmp_path: Path
) -> None:
    limit = 700_000  # about four 2 s segments of the test stream
    opener: Callable[[Path], BinaryIO] = lambda path: _QuotaFile(path, limit)  # noqa: E731
    settings = RecorderSettings(segment_seconds=2.0, read_timeout=5.0, opener=opener)
    store = SegmentStore(tmp_path / "camera-1")
    events: list[RecorderEvent] = []
    recording = asyncio.create_task(run_recorder(rtsp_peer.url("live"), store, settings, events.append))
    try:
        await _until(lambda: any(e.kind == "storage_failed" for e in events), "the storage_failed event")
        full_at = datetime.now(UTC)
        later = full_at + timedelta(seconds=6)  # three more segments' worth of recording
        await _until(lambda: any(s.start > later for s in store.segments()), "a segment 6 s after it")
    finally:
        recording.cancel()
        await asyncio.gather(recording, return_exceptions=True)

    failed = [e for e in events if e.kind == "storage_failed"]
    assert len(failed) == 1, f"said {len(failed)} times: {failed}"
    assert "disk full" in failed[0].detail
    segments = store.segments()
    assert sum(s.size for s in segments) <= limit
    assert segments[-1].start > later, "the newest segment was not kept"
    assert len(segments) >= 2, "the buffer shrank to less than what fits"


RECORDER_PROCESS = """
import sys
from pathlib import Path
from recording.recorder import RecorderSettings, SegmentRecorder
from recording.segments import SegmentStore
SegmentRecorder(sys.argv[1], SegmentStore(Path(sys.argv[2])), RecorderSettings(segment_seconds=2.0)).run()
"""


async def test_kill_9_while_recording_leaves_a_buffer_the_next_clip_can_use(
    rtsp_peer: GstRtspPeer, tmp_path: Path
) -> None:
    directory = tmp_path / "camera-1"
    store = SegmentStore(directory)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", RECORDER_PROCESS, rtsp_peer.url("live"), str(directory), cwd=ROOT
    )
    try:
        await _until(
            lambda: len(store.segments()) >= 2 and any(directory.glob("*.part")),
            "two segments and one being written",
        )
    finally:
        process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(process.wait(), LIMIT)
    assert process.returncode == -signal.SIGKILL
    assert list(directory.glob("*.part")), "the kill did not interrupt a segment being written"

    store.open()  # what the next start of the recorder does

    assert not list(directory.glob("*.part"))
    segments = store.segments()
    clip = await asyncio.to_thread(
        assemble_clip, store, segments[0].start, segments[-1].end + timedelta(seconds=5), tmp_path / "c.mp4"
    )
    assert clip.frames > 0
    assert clip.start == segments[0].start


async def test_an_unusable_directory_is_reported_once_and_recording_starts_when_it_is_fixed(
    rtsp_peer: GstRtspPeer, tmp_path: Path
) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a file where the data directory should be")  # mkdir fails, even for root
    attempts: list[Path] = []

    class CountingStore(SegmentStore):
        def open(self) -> None:
            attempts.append(self.directory)
            super().open()

    store = CountingStore(blocker / "camera-1")
    events: list[RecorderEvent] = []
    recording = asyncio.create_task(run_recorder(rtsp_peer.url("live"), store, FAST, events.append))
    try:
        await _until(lambda: len(attempts) >= 3, "three attempts to open the directory")
        assert [e.kind for e in events] == ["storage_failed"], "not said exactly once"
        assert not recording.done(), "the recorder gave up"
        blocker.unlink()
        await _until(lambda: len(store.segments()) >= 1, "a segment once the directory is usable")
    finally:
        recording.cancel()
        await asyncio.gather(recording, return_exceptions=True)
    assert [e.kind for e in events] == ["storage_failed", "storage_recovered"]
