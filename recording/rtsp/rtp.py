"""RTP packets (RFC 3550) and the ONVIF replay header extension (ONVIF Streaming Specification 6.3).

A replayed packet carries extension profile 0xABAC: the NTP time of the frame it belongs to, and flags
C (clean point: a keyframe starts here), E (end of a contiguous recording section), D (discontinuity:
the previous packet was not the one before this in the recording) and T (terminal: the last packet of
the requested range).
"""

from __future__ import annotations

__all__ = ["ONVIF_EXTENSION", "OnvifReplayInfo", "RtpPacket", "ntp_to_datetime", "parse_rtp"]

import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from recording.rtsp.errors import RtspProtocolError

ONVIF_EXTENSION = 0xABAC
_NTP_EPOCH = datetime(1900, 1, 1, tzinfo=UTC)


def ntp_to_datetime(ntp: int) -> datetime:
    """A 64-bit NTP timestamp (seconds since 1900 in the high half, fraction in the low) as UTC."""
    return _NTP_EPOCH + timedelta(seconds=(ntp >> 32) + (ntp & 0xFFFFFFFF) / 2**32)


@dataclass(frozen=True, slots=True)
class OnvifReplayInfo:
    time: datetime
    clean_point: bool
    end_of_section: bool
    discontinuity: bool
    terminal: bool


@dataclass(frozen=True, slots=True)
class RtpPacket:
    payload_type: int
    marker: bool
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes
    replay: OnvifReplayInfo | None


def parse_rtp(data: bytes) -> RtpPacket:
    if len(data) < 12:
        raise RtspProtocolError(f"RTP packet of {len(data)} bytes is shorter than its 12-byte header")
    first, second, sequence, timestamp, ssrc = struct.unpack_from("!BBHII", data)
    if first >> 6 != 2:
        raise RtspProtocolError(f"RTP version must be 2, got {first >> 6}")
    offset = 12 + 4 * (first & 0x0F)
    replay: OnvifReplayInfo | None = None
    if first & 0x10:
        if len(data) < offset + 4:
            raise RtspProtocolError("RTP header extension runs past the end of the packet")
        profile, words = struct.unpack_from("!HH", data, offset)
        body = data[offset + 4 : offset + 4 + 4 * words]
        if len(body) != 4 * words:
            raise RtspProtocolError("RTP header extension runs past the end of the packet")
        if profile == ONVIF_EXTENSION and words >= 3:
            ntp, flags = struct.unpack_from("!QB", body)
            replay = OnvifReplayInfo(
                time=ntp_to_datetime(ntp),
                clean_point=bool(flags & 0x80),
                end_of_section=bool(flags & 0x40),
                discontinuity=bool(flags & 0x20),
                terminal=bool(flags & 0x10),
            )
        offset += 4 + 4 * words
    end = len(data)
    if first & 0x20:
        padding = data[-1]
        if padding == 0 or padding > end - offset:
            raise RtspProtocolError(f"RTP padding of {padding} bytes does not fit the packet")
        end -= padding
    if offset > end:
        raise RtspProtocolError("RTP header is longer than the packet")
    return RtpPacket(
        payload_type=second & 0x7F,
        marker=bool(second & 0x80),
        sequence=sequence,
        timestamp=timestamp,
        ssrc=ssrc,
        payload=data[offset:end],
        replay=replay,
    )
