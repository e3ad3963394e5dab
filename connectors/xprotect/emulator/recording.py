"""What an emulated recording server has stored for a camera: a clip's coded pictures at wall-clock times.

A recording server keeps what the camera sent. The emulator's "camera" is a short clip: its packets
are the stored pictures, in the order they were coded, each stamped with a wall-clock time (the
recording's start plus the picture's presentation time). The clip may be stored several times end
to end, with a pause between passes (a stretch with no recording).

Pictures are kept as an H.264 byte stream (Annex B, parameter sets in front of each keyframe), the
form a camera's RTP stream has once depacketized. For a server that only hands out JPEG, the same
pictures are decoded and encoded as JPEG once, on first use, in presentation order.
"""

from __future__ import annotations

__all__ = ["Recording", "StoredPicture"]

import bisect
import itertools
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import av.bitstream

_ANNEXB_FILTER = {"h264": "h264_mp4toannexb", "hevc": "hevc_mp4toannexb"}
_JPEG_QUALITY = 5  # mjpeg qscale: about what a VMS transcoder delivers


@dataclass(frozen=True, slots=True)
class StoredPicture:
    """One coded picture: its wall-clock time (milliseconds since 1970, UTC), keyframe flag, bytes."""

    time_ms: int
    keyframe: bool
    data: bytes


class Recording:
    """One camera's stored video (see the module text), addressed by position in stored order.

    ``passes=None`` repeats the clip without end; either way only pictures up to the present exist,
    as on a recorder that is still recording.
    """

    def __init__(
        self, clip: Path, start: datetime, *, passes: int | None = 1, pause_seconds: float = 0.0
    ) -> None:
        if start.tzinfo is None:
            raise ValueError(f"the recording start must be timezone-aware, got {start!r}")
        if passes is not None and passes < 1:
            raise ValueError(f"passes must be >= 1 (or None: endless), got {passes}")
        if pause_seconds < 0:
            raise ValueError(f"pause_seconds must be >= 0, got {pause_seconds}")
        self.clip = clip
        self.start = start
        self.passes = passes
        self.codec, self._coded, self.pass_ms = _read_clip(clip)
        self._step = self.pass_ms + round(pause_seconds * 1000)
        self._base = round(start.timestamp() * 1000)
        self._jpegs: list[StoredPicture] | None = None
        self._jpeg_lock = threading.Lock()
        self._indexes: dict[bool, tuple[list[int], list[int]]] = {}

    def pass_start(self, n: int) -> datetime:
        """When pass ``n`` (from 0) begins."""
        return self.start + timedelta(milliseconds=n * self._step)

    def one_pass(self, *, jpeg: bool) -> list[StoredPicture]:
        """The clip's pictures with times from 0: coded (stored order) or as JPEG (blocking on first use:
        decodes and encodes once, in presentation order)."""
        if not jpeg:
            return self._coded
        with self._jpeg_lock:
            if self._jpegs is None:
                self._jpegs = [StoredPicture(t, True, data) for t, data in _jpeg_pass(self.clip)]
            return self._jpegs

    def picture(self, position: int, *, jpeg: bool) -> StoredPicture:
        """The picture at ``position`` (from 0, stored order) with its wall-clock time."""
        pictures = self.one_pass(jpeg=jpeg)
        n, at = divmod(position, len(pictures))
        p = pictures[at]
        return StoredPicture(self._base + n * self._step + p.time_ms, p.keyframe, p.data)

    def position_at(self, time_ms: int, *, jpeg: bool) -> int:
        """The position of the latest picture at or before ``time_ms`` (0 before the recording),
        never past the last picture recorded so far."""
        now_ms = round(time.time() * 1000)
        return self._position_at(min(time_ms, now_ms), jpeg=jpeg)

    def last_position(self, *, jpeg: bool) -> int:
        return self.position_at(round(time.time() * 1000), jpeg=jpeg)

    def _position_at(self, time_ms: int, *, jpeg: bool) -> int:
        pictures = self.one_pass(jpeg=jpeg)
        times, order = self._index(jpeg)
        offset = time_ms - self._base
        if offset < 0:
            return 0
        n = offset // self._step
        if self.passes is not None and n >= self.passes:
            n, within = self.passes - 1, self._step
        else:
            within = offset - n * self._step
        found = bisect.bisect_right(times, within) - 1
        if found < 0:  # before the first picture of pass n: the last one of the pass before
            return max(0, n * len(pictures) - 1)
        return n * len(pictures) + order[found]

    def _index(self, jpeg: bool) -> tuple[list[int], list[int]]:
        """One pass's picture times sorted, and the stored position of each."""
        if jpeg not in self._indexes:
            pictures = self.one_pass(jpeg=jpeg)
            order = sorted(range(len(pictures)), key=lambda i: pictures[i].time_ms)
            self._indexes[jpeg] = ([pictures[i].time_ms for i in order], order)
        return self._indexes[jpeg]


def _read_clip(clip: Path) -> tuple[str, list[StoredPicture], int]:
    """The clip's codec, its pictures (times from 0) and the length of one pass in milliseconds."""
    pictures: list[StoredPicture] = []
    with av.open(str(clip)) as source:
        stream = source.streams.video[0]
        codec = stream.codec_context.name
        if codec not in _ANNEXB_FILTER:
            raise ValueError(f"{clip}: the emulated recorder stores H.264 or H.265, not {codec}")
        time_base = stream.time_base or Fraction(1, 90_000)
        annexb = av.bitstream.BitStreamFilterContext(_ANNEXB_FILTER[codec], stream)
        first: int | None = None
        for packet in source.demux(stream):
            for out in annexb.filter(packet if packet.size else None):
                if out.pts is None:
                    continue
                if first is None:
                    first = out.pts
                millis = round((out.pts - first) * time_base * 1000)
                pictures.append(StoredPicture(millis, bool(out.is_keyframe), bytes(out)))
    if not pictures:
        raise ValueError(f"{clip} has no video packets")
    times = sorted(p.time_ms for p in pictures)
    frame_ms = min((b - a for a, b in itertools.pairwise(times) if b > a), default=40)
    return codec, pictures, times[-1] + frame_ms


def _jpeg_pass(clip: Path) -> list[tuple[int, bytes]]:
    """Every picture of ``clip`` as a JPEG, with its presentation time from 0 in milliseconds."""
    out: list[tuple[int, bytes]] = []
    with av.open(str(clip)) as source:
        stream = source.streams.video[0]
        time_base = stream.time_base or Fraction(1, 90_000)
        encoder = cast(av.VideoCodecContext, av.CodecContext.create("mjpeg", "w"))
        encoder.width = stream.codec_context.width
        encoder.height = stream.codec_context.height
        encoder.pix_fmt = "yuvj420p"
        encoder.time_base = Fraction(1, 1000)
        encoder.options = {"qscale": str(_JPEG_QUALITY), "strict": "unofficial"}
        first: int | None = None
        for frame in source.decode(stream):
            if frame.pts is None:
                continue
            if first is None:
                first = frame.pts
            millis = round((frame.pts - first) * time_base * 1000)
            picture = frame.reformat(format="yuvj420p")
            picture.pts = millis
            picture.time_base = Fraction(1, 1000)
            out.extend(
                (int(p.pts if p.pts is not None else millis), bytes(p)) for p in encoder.encode(picture)
            )
        out.extend((int(p.pts or 0), bytes(p)) for p in encoder.encode(None))
    return sorted(out)
