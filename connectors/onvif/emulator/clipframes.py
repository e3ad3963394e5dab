"""The emulator's clip as frames ready for RTP: NAL units per frame, its times, the parameter sets.

Read once with PyAV (demuxing only); MP4 stores NAL units length-prefixed (avcC), RTP carries them
bare, so each sample is split at its length prefixes and nothing inside a NAL unit is touched.
"""

from __future__ import annotations

__all__ = ["ClipFrames", "Frame", "load_clip_frames"]

from dataclasses import dataclass
from pathlib import Path

import av


@dataclass(frozen=True, slots=True)
class Frame:
    pts: float  # seconds from the clip's first presentation time
    dts: float
    keyframe: bool
    nal_units: tuple[bytes, ...]


@dataclass(frozen=True)
class ClipFrames:
    """One pass of the clip, in decode order; ``length`` is how long a pass lasts when looped."""

    frames: tuple[Frame, ...]
    parameter_sets: tuple[bytes, ...]  # SPS, PPS
    profile_level_id: str
    length: float
    frame_interval: float


def _avcc(extradata: bytes) -> tuple[int, list[bytes]]:
    """NAL length size and parameter sets from an AVCDecoderConfigurationRecord (ISO 14496-15 5.3.3.1)."""
    if len(extradata) < 7 or extradata[0] != 1:
        raise ValueError("the clip's H.264 extradata is not an avcC record (is it an MP4 file?)")
    length_size = (extradata[4] & 0x03) + 1
    sets: list[bytes] = []
    position = 5
    for count_mask in (0x1F, 0xFF):
        count = extradata[position] & count_mask
        position += 1
        for _ in range(count):
            size = int.from_bytes(extradata[position : position + 2], "big")
            sets.append(extradata[position + 2 : position + 2 + size])
            position += 2 + size
    return length_size, sets


def _split(sample: bytes, length_size: int) -> tuple[bytes, ...]:
    units: list[bytes] = []
    position = 0
    while position + length_size <= len(sample):
        size = int.from_bytes(sample[position : position + length_size], "big")
        position += length_size
        units.append(sample[position : position + size])
        position += size
    return tuple(units)


def load_clip_frames(clip: Path) -> ClipFrames:
    """Blocking: demux ``clip`` (H.264 in MP4)."""
    with av.open(str(clip)) as source:
        stream = source.streams.video[0]
        if stream.codec_context.name != "h264":
            raise ValueError(
                f"{clip}: the emulator streams H.264 clips, this one is {stream.codec_context.name}"
            )
        extradata = bytes(stream.codec_context.extradata or b"")
        time_base = float(stream.time_base or 1 / 90_000)
        packets = [p for p in source.demux(stream) if p.size and p.pts is not None]
    if not packets:
        raise ValueError(f"{clip} has no video packets")
    length_size, sets = _avcc(extradata)
    first = min(p.pts for p in packets if p.pts is not None)
    frames = tuple(
        Frame(
            pts=(p.pts - first) * time_base if p.pts is not None else 0.0,
            dts=((p.dts if p.dts is not None else p.pts or 0) - first) * time_base,
            keyframe=p.is_keyframe,
            nal_units=_split(bytes(p), length_size),
        )
        for p in packets
    )
    ordered = sorted(f.pts for f in frames)
    interval = (ordered[-1] - ordered[0]) / max(len(ordered) - 1, 1)
    return ClipFrames(
        frames=frames,
        parameter_sets=tuple(sets),
        profile_level_id=sets[0][1:4].hex() if sets else "42e01f",
        length=ordered[-1] + interval,
        frame_interval=interval,
    )
