"""A clip from the rolling buffer: the segments covering [start, end) joined into one MP4.

The clip begins at the keyframe at or before ``start`` (so its first frame can be shown) and ends before
``end``. Packets keep their spacing within a segment; each segment is placed on the clip's timeline by its
real start, so a gap in the recording stays a gap in the clip and is listed in the result.
"""

from __future__ import annotations

__all__ = ["ClipUnavailable", "assemble_clip", "assemble_when_ready"]

import asyncio
import itertools
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from recording.mp4 import Mp4ClipWriter
from recording.result import ClipResult, Gap
from recording.segments import Segment, SegmentStore

#: Less missing than this between two segments is timing jitter, not a gap.
GAP_TOLERANCE = timedelta(seconds=0.5)


class ClipUnavailable(LookupError):
    """The buffer holds no video in the asked-for window."""


#: Our own segments need no stream probing beyond the first: only their packets are read.
QUICK_OPEN = {"analyzeduration": "0", "probesize": "32768"}


def _packets(segment: Segment, *, probe: bool) -> tuple[Any, list[Any], Fraction]:
    """The container, the video packets and their time base of one segment file.

    ``probe``: read far enough to know the stream's parameters (the clip's MP4 header needs them);
    probing costs more than reading a segment's packets.
    """
    container = av.open(str(segment.path), options=None if probe else QUICK_OPEN)
    video = container.streams.video[0]
    packets = [p for p in container.demux(video) if p.size > 0]
    return container, packets, Fraction(video.time_base or Fraction(1, 90000))


def _ts(packet: Any) -> int:
    """Decode time: unlike presentation time it never goes back (B-frames), so it can place packets."""
    return int(packet.dts if packet.dts is not None else packet.pts)


def _gaps(
    segments: list[Segment], start: datetime, end: datetime, first: datetime, last: datetime
) -> list[Gap]:
    gaps: list[Gap] = []
    if first - start > GAP_TOLERANCE:
        gaps.append(Gap(start, first))
    for before, after in itertools.pairwise(segments):
        if after.start - before.end > GAP_TOLERANCE:
            gaps.append(Gap(max(before.end, start), min(after.start, end)))
    if end - last > GAP_TOLERANCE:
        gaps.append(Gap(last, end))
    return gaps


def assemble_clip(store: SegmentStore, start: datetime, end: datetime, out: Path) -> ClipResult:
    """Join the buffer's segments covering [start, end) into ``out``. Blocks (run it in a thread)."""
    if end <= start:
        raise ValueError(f"end: expected after start ({start.isoformat()}), got {end.isoformat()}")
    segments = store.covering(start, end)
    if not segments:
        raise ClipUnavailable(f"no recorded video between {start.isoformat()} and {end.isoformat()}")
    writer: Mp4ClipWriter | None = None
    clip_start = clip_end = segments[0].start
    time_base = Fraction(1, 90000)
    try:
        for index, segment in enumerate(segments):
            container, packets, time_base = _packets(segment, probe=writer is None)
            with container:
                if not packets:
                    continue
                base = _ts(packets[0])
                frame = _frame(packets, time_base)

                def wall(
                    packet: Any, segment: Segment = segment, base: int = base, time_base: Fraction = time_base
                ) -> datetime:
                    return segment.start + timedelta(seconds=float((_ts(packet) - base) * time_base))

                first = 0
                if index == 0:  # from the keyframe at or before the window's start
                    for i, packet in enumerate(packets):
                        if wall(packet) > start:
                            break
                        if packet.is_keyframe:
                            first = i
                if writer is None:
                    writer = Mp4ClipWriter(out, container.streams.video[0])
                    clip_start = wall(packets[first])
                # Where this segment's first packet sits on the clip's timeline, in stream ticks.
                offset = round((segment.start - clip_start).total_seconds() / time_base) - base
                for packet in packets[first:]:
                    moment = wall(packet)
                    if moment >= end:
                        break
                    pts = None if packet.pts is None else packet.pts + offset
                    dts = None if packet.dts is None else packet.dts + offset
                    writer.write(packet, pts, dts, time_base)
                    clip_end = max(clip_end, min(moment + frame, segment.end))
        if writer is None:
            raise ClipUnavailable(f"no recorded video between {start.isoformat()} and {end.isoformat()}")
        gaps = _gaps(segments, start, end, clip_start, clip_end)
        return writer.finish(clip_start, clip_end, gaps)
    except BaseException:
        if writer is not None:
            writer.abandon()
        raise


def _frame(packets: list[Any], time_base: Fraction) -> timedelta:
    """The typical packet spacing of a segment (its last frame lasts this long)."""
    if len(packets) < 2:
        return timedelta(0)
    span = _ts(packets[-1]) - _ts(packets[0])
    return timedelta(seconds=max(0.0, float(span * time_base) / (len(packets) - 1)))


async def assemble_when_ready(
    store: SegmentStore, start: datetime, end: datetime, out: Path, *, wait: float, poll: float = 0.25
) -> ClipResult:
    """Wait (up to ``wait`` s) until a complete segment reaches ``end``, then assemble off the loop.

    A window reaching into the future is ready one segment after its end: the segment holding ``end``
    must be complete before it can be joined. After ``wait`` seconds the clip is made from what exists.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while loop.time() < deadline:
        segments = await asyncio.to_thread(store.segments)
        if segments and segments[-1].end >= end:
            break
        await asyncio.sleep(poll)
    return await asyncio.to_thread(assemble_clip, store, start, end, out)
