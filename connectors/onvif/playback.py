"""The emulator's "edge recording": its clip looped to any window length, remuxed (never re-encoded).

A camera with local storage plays back a past time window on request; the emulator has one short
clip, so it repeats it, shifting timestamps so the result is one continuous, valid MP4.
"""

from __future__ import annotations

__all__ = ["loop_clip"]

import io
from fractions import Fraction
from pathlib import Path

import av


def loop_clip(clip: Path, seconds: float) -> bytes:
    """``seconds`` of video from ``clip`` repeated end to end, as MP4 bytes."""
    with av.open(str(clip)) as source:
        video = source.streams.video[0]
        time_base = video.time_base or Fraction(1, 90_000)
        packets = [p for p in source.demux(video) if p.size and p.pts is not None]
    if not packets:
        raise ValueError(f"{clip} has no video packets")
    first = min(p.pts for p in packets if p.pts is not None)
    step = max((packets[-1].duration or 1), 1)
    length = max(p.pts for p in packets if p.pts is not None) - first + step  # one pass, in time_base units
    limit = round(seconds / time_base)
    out = io.BytesIO()
    with av.open(str(clip)) as source, av.open(out, "w", format="mp4") as sink:
        template = source.streams.video[0]
        stream = sink.add_stream_from_template(template)
        offset = 0
        while offset < limit:
            for packet in packets:
                assert packet.pts is not None
                pts = packet.pts - first + offset
                if pts >= limit:
                    break
                dts = (packet.dts if packet.dts is not None else packet.pts) - first + offset
                packet.pts, packet.dts = pts, dts
                packet.stream = stream
                sink.mux(packet)
                # Restore so the next pass shifts from the original timestamps.
                packet.pts, packet.dts = pts - offset + first, dts - offset + first
            offset += length
    return out.getvalue()
