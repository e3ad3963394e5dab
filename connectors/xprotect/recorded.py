"""XProtect recorded video: a camera's stored stream for a time window, as one MP4 with its real times.

:func:`collect_window` walks the recording with an :class:`ImageServerSession`: ``goto`` the window's
start, ``previous`` back to the sync picture at or before it (so the clip decodes from its first
frame), then ``next`` until the first picture after the window's end. :func:`write_clip` remuxes the
pictures as they were stored (no decoding, no re-encoding) into an MP4 with faststart, in a temporary
file that becomes ``out`` only when complete. Stretches without pictures inside the window become
:class:`recording.result.Gap` entries.

A server that hands out only JPEG (it decoded the recording and encoded JPEG, whatever was asked)
gives a clip kept exactly as delivered, MJPEG with the pictures' times, marked ``reencoded`` with
``transcoded_by="vms"``: never presented as the original.
"""

from __future__ import annotations

__all__ = [
    "GAP_MIN_SECONDS",
    "MAX_WINDOW_BYTES",
    "MAX_WINDOW_FRAMES",
    "collect_window",
    "decoding_times",
    "find_gaps",
    "frame_interval",
    "write_clip",
]

import hashlib
import io
import itertools
import statistics
from collections.abc import Sequence
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Final

import av

from connectors.xprotect.errors import ProtocolError
from connectors.xprotect.imageserver import ImageServerSession, StoredFrame
from evidence.atomic import atomic_output
from recording.result import ClipResult, Gap
from vmsbridge.sources import ClipNotFound

#: A stretch longer than this (and than 4 frame intervals) without a picture is a gap.
GAP_MIN_SECONDS: Final = 1.0
#: Pictures one window may hold (a 10-minute window at 60 fps); more is a server that never ends.
MAX_WINDOW_FRAMES: Final = 36_000
#: Video one window may hold in memory before it is written (about 17 minutes at 4 Mbit/s).
MAX_WINDOW_BYTES: Final = 512 * 2**20
#: Pictures walked back from the window's start looking for a sync picture (a 10 s GOP at 60 fps).
MAX_GOP_FRAMES: Final = 600
_MS: Final = Fraction(1, 1000)
_TEMPLATE_BYTES: Final = 4 * 1024 * 1024
_DEMUXERS: Final = {"h264": "h264", "hevc": "hevc", "mjpeg": "mjpeg"}


async def collect_window(session: ImageServerSession, start: datetime, end: datetime) -> list[StoredFrame]:
    """The stored pictures covering [start, end] in stored order, from a sync picture at or before
    ``start``; raises :class:`ClipNotFound` when the recording has nothing in the window."""
    if end <= start:
        raise ClipNotFound(f"the window must end after it starts: {start.isoformat()} - {end.isoformat()}")
    where = f"camera {session.camera_id}"
    frame = await session.goto(start)
    if frame is None:
        raise ClipNotFound(f"the recording server has no video for {where} at {start.isoformat()}")
    for _ in range(MAX_GOP_FRAMES):
        if frame.keyframe or frame.at_start:
            break
        before = await session.previous()
        if before is None:
            break
        frame = before
    frames = [frame]
    held = len(frame.data)
    while not frames[-1].at_end:
        if len(frames) >= MAX_WINDOW_FRAMES:
            raise ProtocolError(
                str(session.recorder), f"{where}: more than {MAX_WINDOW_FRAMES} pictures in one window"
            )
        if held > MAX_WINDOW_BYTES:
            raise ClipNotFound(
                f"{where}: the window holds more than {MAX_WINDOW_BYTES // 2**20} MiB of video; "
                "ask for a shorter one"
            )
        following = await session.next()
        if following is None:
            # Its Next header promised another picture: stopping here would hand out a short clip.
            raise ProtocolError(
                str(session.recorder),
                f"{where}: next answered without a picture after {frames[-1].time.isoformat()} although "
                f"the server named one at {frames[-1].next_ms} ms",
            )
        if following.time > end:
            break
        frames.append(following)
        held += len(following.data)
    # Walking back may have stopped at the recording's first picture without finding a sync picture.
    first_sync = next((i for i, f in enumerate(frames) if f.keyframe), None)
    if first_sync is None:
        raise ClipNotFound(f"no sync picture for {where} between {start.isoformat()} and {end.isoformat()}")
    frames = frames[first_sync:]
    if max(f.time for f in frames) < start:
        raise ClipNotFound(
            f"the recording of {where} ends at {max(f.time for f in frames).isoformat()}, "
            f"before the window {start.isoformat()} - {end.isoformat()}"
        )
    return frames


def frame_interval(times: Sequence[datetime]) -> timedelta:
    """The typical time between pictures (median); 1/15 s when there is only one."""
    ordered = sorted(times)
    steps = [(b - a) / timedelta(milliseconds=1) for a, b in itertools.pairwise(ordered) if b > a]
    return timedelta(milliseconds=statistics.median(steps)) if steps else timedelta(milliseconds=67)


def find_gaps(times: Sequence[datetime], start: datetime, end: datetime) -> tuple[Gap, ...]:
    """Stretches of [start, end] with no picture: longer than 1 s and than four frame intervals."""
    if not times:
        return (Gap(start, end),)
    ordered = sorted(times)
    interval = frame_interval(ordered)
    limit = max(timedelta(seconds=GAP_MIN_SECONDS), 4 * interval)
    gaps: list[Gap] = []
    if ordered[0] - start > limit:
        gaps.append(Gap(start, ordered[0]))
    for before, after in itertools.pairwise(ordered):
        if after - before > limit and after > start and before < end:
            gaps.append(Gap(max(before, start), min(after, end)))
    if end - ordered[-1] > limit:
        gaps.append(Gap(ordered[-1], end))
    return tuple(gaps)


def decoding_times(pts: Sequence[int]) -> tuple[list[int], list[int]]:
    """Presentation and decoding times (ms) for pictures in stored order, which is decoding order.

    Presentation times may run ahead of decoding order (B-frames): decoding times are the sorted
    presentation times moved back just enough to stay at or before them. A container needs them
    strictly increasing, so a repeated time (a recorder's millisecond clock) moves on by 1 ms.
    """
    ordered = sorted(pts)
    delay = max(0, *(o - p for o, p in zip(ordered, pts, strict=True)))
    dts: list[int] = []
    for o in ordered:
        dts.append(max(o - delay, dts[-1] + 1) if dts else o - delay)
    return [max(p, d) for p, d in zip(pts, dts, strict=True)], dts


def write_clip(frames: Sequence[StoredFrame], window: tuple[datetime, datetime], out: Path) -> ClipResult:
    """Remux ``frames`` (stored order) into ``out`` as MP4 with faststart; blocking, run it off the loop.

    Nothing is left at ``out`` (nor beside it) if anything fails.
    """
    if not frames:
        raise ValueError("no pictures to write")
    codecs = {f.codec for f in frames}
    if len(codecs) != 1:
        raise ProtocolError("recording server", f"the codec changed inside the window: {sorted(codecs)}")
    codec = codecs.pop()
    transcoded = any(f.transcoded for f in frames)
    times = [f.time for f in frames]
    interval = frame_interval(times)
    origin = min(times)
    pts = [round((t - origin) / timedelta(milliseconds=1)) for t in times]
    pts, dts = decoding_times(pts)
    duration = max(1, round(interval / timedelta(milliseconds=1)))
    with atomic_output(out) as partial:
        width, height = _mux(frames, codec, pts, dts, duration, origin, partial)
        digest = _sha256(partial)
    return ClipResult(
        file=out,
        sha256=digest,
        codec=codec,
        width=width,
        height=height,
        frames=len(frames),
        start=origin,
        end=max(times) + interval,
        gaps=find_gaps(times, *window),
        reencoded=transcoded,
        transcoded_by="vms" if transcoded else None,
    )


def _mux(
    frames: Sequence[StoredFrame],
    codec: str,
    pts: list[int],
    dts: list[int],
    duration: int,
    origin: datetime,
    path: Path,
) -> tuple[int, int]:
    template_bytes = bytearray()
    for frame in frames:
        template_bytes += frame.data
        if len(template_bytes) >= _TEMPLATE_BYTES or codec == "mjpeg":
            break
    try:
        template = av.open(io.BytesIO(bytes(template_bytes)), format=_DEMUXERS[codec])
    except av.error.FFmpegError as exc:
        raise ProtocolError("recording server", f"the stored {codec} stream cannot be read: {exc}") from None
    with template:
        source = template.streams.video[0]
        width, height = source.codec_context.width, source.codec_context.height
        if not width or not height:
            raise ProtocolError("recording server", f"the stored {codec} stream carries no picture size")
        with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as sink:
            sink.metadata["creation_time"] = origin.isoformat()
            stream = sink.add_stream_from_template(source)
            stream.time_base = _MS
            for frame, p, d in zip(frames, pts, dts, strict=True):
                packet = av.Packet(frame.data)
                packet.pts, packet.dts, packet.duration = p, d, duration
                packet.time_base = _MS
                packet.is_keyframe = frame.keyframe
                packet.stream = stream
                try:
                    sink.mux(packet)
                except av.error.FFmpegError as exc:
                    raise ProtocolError(
                        "recording server", f"the pictures cannot be written as MP4: {exc}"
                    ) from None
    return width, height


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
