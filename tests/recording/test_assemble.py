"""Clip assembly from the rolling buffer: segments cut from a known file at known times, one missing."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import av
import pytest

from recording.assemble import ClipUnavailable, assemble_clip
from recording.result import Gap
from recording.segments import SegmentStore
from tests.recording.conftest import FPS, GOP
from tests.recording.rtsp_peer import slice_hashes

BASE = datetime(2026, 3, 1, 22, 0, 0, tzinfo=UTC)
SEGMENT_GOPS = 2  # 2 s segments


def _at(seconds: float) -> datetime:
    return BASE + timedelta(seconds=seconds)


def _cut_into_segments(source: Path, store: SegmentStore, segments: int, missing: set[int]) -> None:
    """Segment i holds source seconds [2i, 2i+2) and is named for BASE + 2i s; the ``missing`` ones are not
    written (as if the stream had been lost then)."""
    store.open()
    with av.open(str(source)) as container:  # the template stream lives as long as its container
        video = container.streams.video[0]
        packets = [p for p in container.demux(video) if p.size > 0]
        per_segment = SEGMENT_GOPS * GOP
        for index in range(segments):
            if index in missing:
                continue
            chunk = packets[index * per_segment : (index + 1) * per_segment]
            part = store.part_path(_at(2 * index))
            with av.open(str(part), "w", format="mpegts") as out:
                stream: Any = out.add_stream_from_template(video)
                for packet in chunk:
                    packet.stream = stream
                    out.mux(packet)
            store.complete(part, _at(2 * index), _at(2 * index + 2))


@pytest.fixture
def store(tmp_path: Path, h264_media: Path) -> SegmentStore:
    buffer = SegmentStore(tmp_path / "camera-1")
    _cut_into_segments(h264_media, buffer, segments=5, missing={2})  # no video for [4 s, 6 s)
    return buffer


def _pts_seconds(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        time_base = video.time_base
        assert time_base is not None
        return sorted(float(p.pts * time_base) for p in container.demux(video) if p.pts is not None)


def test_clip_starts_at_the_keyframe_before_the_window_and_keeps_the_gap(
    store: SegmentStore, h264_media: Path, tmp_path: Path
) -> None:
    clip = assemble_clip(store, _at(1.5), _at(7.2), tmp_path / "clip.mp4")

    assert clip.start == _at(1.0), "the clip must start at the keyframe at or before the window's start"
    assert abs((clip.end - _at(7.2)).total_seconds()) < 1e-6
    assert clip.gaps == (Gap(_at(4.0), _at(6.0)),)
    source = slice_hashes(h264_media)
    assert slice_hashes(clip.file) == source[1 * FPS : 4 * FPS] + source[6 * FPS : int(7.2 * FPS)]
    assert clip.frames == 3 * FPS + int(1.2 * FPS)
    times = _pts_seconds(clip.file)
    jump = max(b - a for a, b in itertools.pairwise(times))
    assert abs(jump - (2.0 + 1 / FPS)) < 0.01, (
        f"the 2 s gap is not on the clip's timeline (largest step {jump})"
    )


def test_a_window_before_the_buffer_starts_says_where_video_is_missing(
    store: SegmentStore, tmp_path: Path
) -> None:
    clip = assemble_clip(store, _at(-3.0), _at(1.0), tmp_path / "clip.mp4")

    assert clip.start == _at(0.0)
    assert clip.gaps == (Gap(_at(-3.0), _at(0.0)),)


def test_no_video_in_the_window_writes_nothing(store: SegmentStore, tmp_path: Path) -> None:
    out = tmp_path / "clip.mp4"
    with pytest.raises(ClipUnavailable):
        assemble_clip(store, _at(4.2), _at(5.8), out)
    assert not out.exists()
    assert not out.with_name(out.name + ".part").exists()


def test_leftover_part_files_are_removed_when_the_buffer_opens(store: SegmentStore) -> None:
    leftover = store.part_path(_at(10))
    leftover.write_bytes(b"\x47" * 100)  # the start of a TS segment a killed writer never finished

    store.open()

    assert not leftover.exists()
    assert len(store.segments()) == 4


def test_prune_keeps_the_newest_seconds_and_bytes(tmp_path: Path, h264_media: Path) -> None:
    by_seconds = SegmentStore(tmp_path / "a", max_seconds=4.0)
    _cut_into_segments(h264_media, by_seconds, segments=5, missing=set())
    by_seconds.prune()
    assert [s.start for s in by_seconds.segments()] == [_at(6), _at(8)], "4 s kept: the newest two"

    by_bytes = SegmentStore(tmp_path / "b", max_seconds=300.0, max_bytes=1)
    _cut_into_segments(h264_media, by_bytes, segments=3, missing=set())
    by_bytes.prune()
    assert [s.start for s in by_bytes.segments()] == [_at(4)], "the newest segment is always kept"
