"""RTP payloads back into access units: H.264 (RFC 6184: single NAL, STAP-A, FU-A) and H.265 (RFC 7798:
single NAL, AP, FU). NAL units come out unchanged, so the remuxed file holds the camera's own bytes.

An access unit ends at the RTP marker bit or when the RTP timestamp changes. A fragmented NAL unit
that misses a piece (a sequence number skipped) is dropped, and so is the access unit it was part of:
a recorder keeps what the camera sent, it does not guess.
"""

from __future__ import annotations

__all__ = ["AccessUnit", "Depacketizer"]

from dataclasses import dataclass, field
from datetime import datetime

from recording.rtsp.errors import RtspProtocolError
from recording.rtsp.rtp import RtpPacket

# NAL unit types
_H264_IDR = 5
_H264_SPS, _H264_PPS = 7, 8
_H264_STAP_A, _H264_FU_A = 24, 28
_H265_IRAP = range(16, 24)
_H265_VPS, _H265_SPS, _H265_PPS = 32, 33, 34
_H265_AP, _H265_FU = 48, 49


@dataclass(slots=True)
class AccessUnit:
    """One frame: its NAL units (without start codes), RTP timestamp and, in a replay, its NTP time."""

    timestamp: int
    nal_units: list[bytes] = field(default_factory=list)
    keyframe: bool = False
    time: datetime | None = None
    discontinuity: bool = False
    terminal: bool = False
    broken: bool = False

    def annex_b(self) -> bytes:
        return b"".join(b"\x00\x00\x00\x01" + nal for nal in self.nal_units)


class Depacketizer:
    """Feed RTP packets of one video track in order; take complete access units back."""

    def __init__(self, codec: str) -> None:
        if codec not in ("h264", "hevc"):
            raise ValueError(f"codec must be 'h264' or 'hevc', not {codec!r}")
        self.codec = codec
        self._unit: AccessUnit | None = None
        self._fragment: bytearray | None = None
        self._last_sequence: int | None = None
        self.parameter_sets: dict[int, bytes] = {}

    def push(self, packet: RtpPacket) -> list[AccessUnit]:
        done: list[AccessUnit] = []
        lost = self._last_sequence is not None and packet.sequence != (self._last_sequence + 1) & 0xFFFF
        self._last_sequence = packet.sequence
        if self._unit is not None and self._unit.timestamp != packet.timestamp:
            done += self._finish()
        if self._unit is None:
            self._unit = AccessUnit(timestamp=packet.timestamp)
        unit = self._unit
        if lost:
            unit.broken = unit.broken or self._fragment is not None
            self._fragment = None
        if packet.replay is not None:
            if unit.time is None:
                unit.time = packet.replay.time
            unit.discontinuity = unit.discontinuity or packet.replay.discontinuity
            unit.terminal = unit.terminal or packet.replay.terminal
        if self.codec == "h264":
            self._push_h264(packet.payload, unit)
        else:
            self._push_h265(packet.payload, unit)
        if packet.marker:
            done += self._finish()
        return done

    def flush(self) -> list[AccessUnit]:
        return self._finish()

    def _finish(self) -> list[AccessUnit]:
        unit, self._unit, self._fragment = self._unit, None, None
        if unit is None or unit.broken or not unit.nal_units:
            return []
        return [unit]

    def _add(self, unit: AccessUnit, nal: bytes) -> None:
        if not nal:
            return
        if self.codec == "h264":
            kind = nal[0] & 0x1F
            unit.keyframe = unit.keyframe or kind == _H264_IDR
            if kind in (_H264_SPS, _H264_PPS):
                self.parameter_sets[kind] = nal
        else:
            kind = (nal[0] >> 1) & 0x3F
            unit.keyframe = unit.keyframe or kind in _H265_IRAP
            if kind in (_H265_VPS, _H265_SPS, _H265_PPS):
                self.parameter_sets[kind] = nal
        unit.nal_units.append(nal)

    def _push_h264(self, payload: bytes, unit: AccessUnit) -> None:
        if not payload:
            return
        kind = payload[0] & 0x1F
        if kind == _H264_STAP_A:
            self._aggregate(payload[1:], unit)
        elif kind == _H264_FU_A:
            if len(payload) < 2:
                raise RtspProtocolError("H.264 FU-A packet has no FU header")
            indicator, header = payload[0], payload[1]
            if header & 0x80:
                self._fragment = bytearray([(indicator & 0xE0) | (header & 0x1F)])
            if self._fragment is None:
                unit.broken = True  # a middle or end piece without its start
                return
            self._fragment += payload[2:]
            if header & 0x40:
                self._add(unit, bytes(self._fragment))
                self._fragment = None
        elif 1 <= kind <= 23:
            self._add(unit, payload)
        else:
            raise RtspProtocolError(
                f"H.264 RTP payload type {kind} is not supported (STAP-A, FU-A, single NAL are)"
            )

    def _push_h265(self, payload: bytes, unit: AccessUnit) -> None:
        if len(payload) < 2:
            return
        kind = (payload[0] >> 1) & 0x3F
        if kind == _H265_AP:
            self._aggregate(payload[2:], unit)
        elif kind == _H265_FU:
            if len(payload) < 3:
                raise RtspProtocolError("H.265 FU packet has no FU header")
            header = payload[2]
            if header & 0x80:
                self._fragment = bytearray([(payload[0] & 0x81) | ((header & 0x3F) << 1), payload[1]])
            if self._fragment is None:
                unit.broken = True
                return
            self._fragment += payload[3:]
            if header & 0x40:
                self._add(unit, bytes(self._fragment))
                self._fragment = None
        elif kind < 48:
            self._add(unit, payload)
        else:
            raise RtspProtocolError(
                f"H.265 RTP payload type {kind} is not supported (AP, FU, single NAL are)"
            )

    def _aggregate(self, body: bytes, unit: AccessUnit) -> None:
        position = 0
        while position + 2 <= len(body):
            size = int.from_bytes(body[position : position + 2], "big")
            position += 2
            if size == 0 or position + size > len(body):
                raise RtspProtocolError("RTP aggregation packet has a NAL unit size past its end")
            self._add(unit, body[position : position + size])
            position += size
