"""RTP packets for the emulator's frames: H.264 in RFC 6184 packetization-mode 1 (single NAL units, FU-A
above :data:`PAYLOAD_BYTES`), with the ONVIF replay header extension 0xABAC when replaying (ONVIF
Streaming Specification 6.3: NTP time, C/E/D/T flags).
"""

from __future__ import annotations

__all__ = ["PAYLOAD_BYTES", "PAYLOAD_TYPE", "Packetizer"]

import os
import struct
from datetime import UTC, datetime

from connectors.onvif.emulator.clipframes import Frame

PAYLOAD_BYTES = 1400
PAYLOAD_TYPE = 96
_NTP_EPOCH = datetime(1900, 1, 1, tzinfo=UTC)


def _ntp(moment: datetime) -> int:
    seconds = (moment - _NTP_EPOCH).total_seconds()
    return int(seconds * 2**32) & 0xFFFFFFFFFFFFFFFF


class Packetizer:
    """RTP packets (RFC 6184 packetization-mode 1) for frames, with the ONVIF extension when replaying."""

    def __init__(self) -> None:
        self.sequence = int.from_bytes(os.urandom(2), "big")
        self.ssrc = int.from_bytes(os.urandom(4), "big")
        self.cseq = 0

    def frame(
        self, frame: Frame, timestamp: int, replay: tuple[datetime, int] | None, *, terminal: bool
    ) -> list[bytes]:
        payloads: list[bytes] = []
        for nal in frame.nal_units:
            if len(nal) <= PAYLOAD_BYTES:
                payloads.append(nal)
                continue
            indicator = (nal[0] & 0xE0) | 28
            body = nal[1:]
            pieces = [body[i : i + PAYLOAD_BYTES] for i in range(0, len(body), PAYLOAD_BYTES)]
            for i, piece in enumerate(pieces):
                fu_header = (nal[0] & 0x1F) | (0x80 if i == 0 else 0) | (0x40 if i == len(pieces) - 1 else 0)
                payloads.append(bytes([indicator, fu_header]) + piece)
        packets = []
        for i, payload in enumerate(payloads):
            last = i == len(payloads) - 1
            first_byte = 0x80
            extension = b""
            if replay is not None:
                moment, flags = replay
                flags |= 0x80 if frame.keyframe and i == 0 else 0
                flags |= 0x10 if terminal and last else 0
                if i != 0:
                    flags &= ~0x20
                extension = struct.pack("!HHQBBH", 0xABAC, 3, _ntp(moment), flags, self.cseq, 0)
                first_byte |= 0x10
            header = struct.pack(
                "!BBHII",
                first_byte,
                (0x80 if last else 0) | PAYLOAD_TYPE,
                self.sequence,
                timestamp,
                self.ssrc,
            )
            self.sequence = (self.sequence + 1) & 0xFFFF
            packets.append(header + extension + payload)
        return packets
