"""A time window of recorded video over ONVIF replay (Profile G, ONVIF Streaming Specification 6),
or a number of seconds of a live stream, through our own RTSP client, into an MP4 without re-encoding.

Replay asks with ``Require: onvif-replay`` and ``Range: clock=<start>-<end>`` (and ``Rate-Control: no``,
so the recorder sends as fast as we read rather than in real time). Frames are placed by the NTP time
of the 0xABAC RTP header extension; the server starts at the keyframe at or before ``start``. The file
appears only when complete: it is written beside ``out`` under a temporary name and renamed.
"""

from __future__ import annotations

__all__ = ["ReplayRequest", "replay_clip", "stream_clip"]

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av

from evidence.atomic import atomic_output
from recording.result import ClipResult
from recording.rtsp.depacketize import AccessUnit, Depacketizer
from recording.rtsp.errors import RtspProtocolError, RtspStreamEnded
from recording.rtsp.remux import TimedUnit, write_mp4
from recording.rtsp.sdp import VideoTrack
from recording.rtsp.session import RtspSession

log = logging.getLogger(__name__)

REPLAY = "onvif-replay"
# Upper bound on frames held before writing (a 1 h window at 30 fps); replay windows are minutes.
MAX_FRAMES = 108_000


@dataclass(frozen=True)
class ReplayRequest:
    url: str
    start: datetime
    end: datetime
    username: str | None = None
    password: str | None = None
    timeout: float = 10.0

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value: datetime = getattr(self, name)
            if value.tzinfo is None:
                raise ValueError(f"{name} must carry a time zone offset, got {value.isoformat()}")
        if self.end <= self.start:
            raise ValueError(f"end ({self.end.isoformat()}) must be after start ({self.start.isoformat()})")


def clock_range(start: datetime, end: datetime) -> str:
    """``clock=20240101T120000.000Z-20240101T120100.000Z`` (RFC 2326 absolute time, UTC)."""

    def stamp(moment: datetime) -> str:
        utc = moment.astimezone(UTC)
        return utc.strftime("%Y%m%dT%H%M%S.") + f"{utc.microsecond // 1000:03d}Z"

    return f"clock={stamp(start)}-{stamp(end)}"


async def _units(session: RtspSession, track: VideoTrack) -> AsyncIterator[tuple[Depacketizer, AccessUnit]]:
    depacketizer = Depacketizer(track.codec)
    async for packet in session.rtp_packets():
        if packet.payload_type != track.payload_type:
            continue
        for unit in depacketizer.push(packet):
            yield depacketizer, unit
    for unit in depacketizer.flush():
        yield depacketizer, unit


def _parameter_sets(track: VideoTrack, depacketizer: Depacketizer | None) -> list[bytes]:
    sets = list(track.parameter_sets)
    if depacketizer is not None:
        sets += [nal for kind, nal in sorted(depacketizer.parameter_sets.items()) if nal not in sets]
    return sets


async def _write(
    url: str,
    frames: Sequence[TimedUnit],
    track: VideoTrack,
    depacketizer: Depacketizer | None,
    out: Path,
    window: tuple[datetime, datetime] | None,
) -> ClipResult:
    if not frames:
        raise RtspStreamEnded(f"{url}: the server sent no complete keyframe-started video for the window")
    parameter_sets = _parameter_sets(track, depacketizer)

    def write() -> ClipResult:
        with atomic_output(out) as partial:
            written = write_mp4(
                frames, codec=track.codec, parameter_sets=parameter_sets, out=partial, window=window
            )
        return dataclasses.replace(written, file=out)

    try:
        return await asyncio.to_thread(write)
    except (ValueError, av.FFmpegError) as exc:
        if isinstance(exc, OSError):
            raise
        raise RtspProtocolError(
            f"{url}: the video received cannot be written as {track.codec}: {exc}"
        ) from exc


async def replay_clip(request: ReplayRequest, out: Path) -> ClipResult:
    """Replay [start, end) of a recording from its ONVIF replay URI into ``out``."""
    require = {"Require": REPLAY}
    frames: list[TimedUnit] = []
    last: Depacketizer | None = None
    async with RtspSession(
        request.url, username=request.username, password=request.password, timeout=request.timeout
    ) as session:
        track = await session.describe(require)
        await session.setup(track, require)
        await session.play(
            {**require, "Range": clock_range(request.start, request.end), "Rate-Control": "no"}
        )
        ended = False
        async for depacketizer, unit in _units(session, track):
            last = depacketizer
            if unit.time is None:
                raise RtspProtocolError(
                    f"{session.url}: replayed RTP has no ONVIF 0xABAC header extension, "
                    "so frames cannot be placed in time"
                )
            if unit.time >= request.end:
                ended = True
                break
            if frames or unit.keyframe:
                frames.append(TimedUnit(unit, unit.time))
                if len(frames) > MAX_FRAMES:
                    raise RtspProtocolError(f"{session.url}: replay window holds over {MAX_FRAMES} frames")
            if unit.terminal:
                ended = True
                break
        if not ended and not frames:
            raise RtspStreamEnded(f"{session.url}: the server ended the replay before sending a keyframe")
    return await _write(session.url, frames, track, last, out, (request.start, request.end))


async def stream_clip(
    url: str,
    seconds: float,
    out: Path,
    *,
    username: str | None = None,
    password: str | None = None,
    limit_seconds: float = 10.0,
) -> ClipResult:
    """``seconds`` of a live stream (from its first keyframe) into ``out``, placed by RTP time."""
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    frames: list[TimedUnit] = []
    last: Depacketizer | None = None
    async with RtspSession(url, username=username, password=password, timeout=limit_seconds) as session:
        track = await session.describe()
        await session.setup(track)
        await session.play({"Range": "npt=0.000-"})
        first_timestamp: int | None = None
        unwrapped = 0
        previous = 0
        wall_start = datetime.now(UTC)
        started = time.monotonic()
        async for depacketizer, unit in _units(session, track):
            last = depacketizer
            if first_timestamp is None:
                if not unit.keyframe:
                    if time.monotonic() - started > limit_seconds:
                        raise RtspStreamEnded(f"{session.url}: no keyframe within {limit_seconds:g} s")
                    continue
                first_timestamp = previous = unit.timestamp
                wall_start = datetime.now(UTC)
            unwrapped += (unit.timestamp - previous + 2**31) % 2**32 - 2**31
            previous = unit.timestamp
            offset = timedelta(seconds=unwrapped / track.clock_rate)
            if offset >= timedelta(seconds=seconds):
                break
            frames.append(TimedUnit(unit, wall_start + offset))
            if len(frames) > MAX_FRAMES:
                raise RtspProtocolError(f"{session.url}: over {MAX_FRAMES} frames")
        else:
            raise RtspStreamEnded(
                f"{session.url}: the server ended the stream (BYE) after {len(frames)} frames, "
                f"before {seconds:g} s"
            )
    return await _write(session.url, frames, track, last, out, None)
