"""A clip straight from a live stream: N seconds from the first keyframe, remuxed into one MP4."""

from __future__ import annotations

__all__ = ["record_clip"]

import time
from collections.abc import Callable
from pathlib import Path

from recording.live import StreamStopped, open_live, redact_url
from recording.mp4 import Mp4ClipWriter
from recording.result import ClipResult
from recording.timing import WallClock


def record_clip(
    url: str,
    seconds: float,
    out: Path,
    *,
    open_timeout: float = 10.0,
    read_timeout: float = 10.0,
    clock: Callable[[], float] = time.time,
) -> ClipResult:
    """Record ``seconds`` of stream time (by the stream's own timestamps) into ``out``. Blocks.

    Raises a :class:`~recording.live.RecordingError` when the stream cannot be opened or stops early;
    ``out`` is then left as it was (nothing half-written).
    """
    if seconds <= 0:
        raise ValueError(f"seconds: expected a positive number, got {seconds}")
    with open_live(url, open_timeout=open_timeout, read_timeout=read_timeout) as live:
        time_base = live.video.time_base
        writer: Mp4ClipWriter | None = None
        first_ts = 0
        wall = WallClock()
        last_seconds = 0.0
        try:
            for packet in live.packets():
                ts = packet.dts if packet.dts is not None else packet.pts
                if ts is None:
                    continue
                if writer is None:
                    if not packet.is_keyframe:
                        continue  # a clip starts on a keyframe, or its first frames cannot be shown
                    writer = Mp4ClipWriter(out, live.video)
                    first_ts = ts
                elapsed = float((ts - first_ts) * time_base)
                wall.observe(elapsed, clock())
                if elapsed >= seconds:
                    return writer.finish(wall.at(0.0), wall.at(elapsed))
                pts = None if packet.pts is None else packet.pts - first_ts
                dts = None if packet.dts is None else packet.dts - first_ts
                writer.write(packet, pts, dts, time_base)
                last_seconds = max(last_seconds, elapsed)
            raise StreamStopped(f"{redact_url(url)}: stream ended")
        except StreamStopped as exc:
            if writer is not None:
                writer.abandon()
            got = f" after {last_seconds:.1f} of {seconds:g} s" if writer is not None else ""
            raise StreamStopped(f"{exc}{got}; no clip written") from None
        except BaseException:
            if writer is not None:
                writer.abandon()
            raise
