"""Access units received over RTP into an MP4 file (faststart), remuxed: the NAL units are written as
received, never decoded and encoded again. Only the first keyframe is decoded, to learn the picture size.

Frames are placed by their time (the replay's NTP time, or the live arrival clock); a jump between two
frames much longer than the usual frame interval, or a discontinuity the server flagged, is a gap.
"""

from __future__ import annotations

__all__ = ["TimedUnit", "write_mp4"]

import hashlib
import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path

import av

from recording.result import ClipResult, Gap
from recording.rtsp.depacketize import AccessUnit

_TIME_BASE = Fraction(1, 90_000)
# A jump between frames longer than this many usual frame intervals (and at least _GAP_MIN) is a gap.
_GAP_FACTOR = 4
_GAP_MIN = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class TimedUnit:
    unit: AccessUnit
    time: datetime


def _picture_size(codec: str, parameter_sets: Sequence[bytes], keyframe: AccessUnit) -> tuple[int, int]:
    decoder = av.CodecContext.create(codec, "r")
    assert isinstance(decoder, av.VideoCodecContext)
    data = b"".join(b"\x00\x00\x00\x01" + nal for nal in parameter_sets) + keyframe.annex_b()
    frames = decoder.decode(av.Packet(data))
    frames += decoder.decode(None)
    if not frames:
        raise ValueError(f"the first {codec} keyframe received could not be read (missing parameter sets?)")
    return frames[0].width, frames[0].height


def _decode_timestamps(pts: list[int]) -> list[int]:
    """Monotonic decode timestamps for presentation timestamps in decode order (B-frames reorder them)."""
    ordered = sorted(pts)
    delay = max((s - p for s, p in zip(ordered, pts, strict=True)), default=0)
    return [s - max(delay, 0) for s in ordered]


def _gaps(times: list[datetime], interval: timedelta, discontinuous: list[bool]) -> list[Gap]:
    gaps: list[Gap] = []
    limit = max(interval * _GAP_FACTOR, _GAP_MIN)
    for before, after, flagged in zip(times, times[1:], discontinuous[1:], strict=False):
        if after - before > limit or (flagged and after - before > interval * 1.5):
            gaps.append(Gap(before + interval, after))
    return gaps


def write_mp4(
    frames: Sequence[TimedUnit],
    *,
    codec: str,
    parameter_sets: Sequence[bytes],
    out: Path,
    window: tuple[datetime, datetime] | None = None,
) -> ClipResult:
    """Write ``frames`` (decode order, starting with a keyframe) to ``out``; blocking, run it off the loop.

    ``window`` is the asked-for span: video missing at its start or end is reported as a gap too.
    """
    if not frames:
        raise ValueError("no video frames to write")
    if not frames[0].unit.keyframe:
        raise ValueError("a clip must start with a keyframe")
    width, height = _picture_size(codec, parameter_sets, frames[0].unit)
    start = min(f.time for f in frames)
    pts = [round((f.time - start) / timedelta(seconds=1) / _TIME_BASE) for f in frames]
    dts = _decode_timestamps(pts)
    presentation = sorted(f.time for f in frames)
    steps = [b - a for a, b in itertools.pairwise(presentation) if b > a]
    interval = timedelta(seconds=statistics.median(s.total_seconds() for s in steps) if steps else 1 / 25)
    end = presentation[-1] + interval
    gaps = _gaps(presentation, interval, [f.unit.discontinuity for f in frames])
    if window is not None:
        if start - window[0] > _GAP_MIN:
            gaps.insert(0, Gap(window[0], start))
        if window[1] - end > _GAP_MIN:
            gaps.append(Gap(end, window[1]))
    extradata = b"".join(b"\x00\x00\x00\x01" + nal for nal in parameter_sets)
    with av.open(str(out), "w", format="mp4", options={"movflags": "+faststart"}) as sink:
        stream = sink.add_stream(codec)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height = width, height
        stream.time_base = _TIME_BASE
        # Annex B parameter sets: the MP4 muxer turns them (and each packet) into avcC/hvcC form.
        stream.codec_context.extradata = extradata
        for frame, p, d in zip(frames, pts, dts, strict=True):
            packet = av.Packet(frame.unit.annex_b())
            packet.pts, packet.dts = p, d
            packet.time_base = _TIME_BASE
            packet.is_keyframe = frame.unit.keyframe
            packet.stream = stream
            sink.mux(packet)
    digest = hashlib.sha256()
    with out.open("rb") as written:
        for block in iter(lambda: written.read(1 << 20), b""):
            digest.update(block)
    return ClipResult(
        file=out,
        sha256=digest.hexdigest(),
        codec=codec,
        width=width,
        height=height,
        frames=len(frames),
        start=start,
        end=end,
        gaps=tuple(gaps),
    )
