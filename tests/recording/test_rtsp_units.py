"""The RTSP client's pieces on their own: Digest answers, RTP and its ONVIF extension, depacketization."""

from __future__ import annotations

import struct
from datetime import UTC, datetime

import pytest

from recording.rtsp import RtspProtocolError
from recording.rtsp.auth import Authenticator
from recording.rtsp.depacketize import Depacketizer
from recording.rtsp.rtp import RtpPacket, parse_rtp


def test_digest_answer_matches_rfc_2617_example(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("recording.rtsp.auth.os.urandom", lambda n: bytes.fromhex("0a4f113b"))
    auth = Authenticator("Mufasa", "Circle Of Life")
    auth.challenge(
        [
            'Digest realm="testrealm@host.com", qop="auth,auth-int", '
            'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
        ]
    )
    header = auth.header("GET", "/dir/index.html")
    assert header is not None
    assert 'response="6629fae49393a05397450978507c4ef1"' in header
    assert "nc=00000001" in header
    assert 'opaque="5ccc069c403ebaf9f0171e9517f40e41"' in header


def test_basic_only_when_nothing_else_is_offered() -> None:
    auth = Authenticator("a", "b")
    auth.challenge(['Basic realm="x"', 'Digest realm="x", nonce="n"'])
    assert (auth.header("DESCRIBE", "rtsp://h/") or "").startswith("Digest ")
    auth.challenge(['Basic realm="x"'])
    assert auth.header("DESCRIBE", "rtsp://h/") == "Basic YTpi"


def _rtp(payload: bytes, *, seq: int, ts: int = 1000, marker: bool = False, ext: bytes = b"") -> bytes:
    first = 0x80 | (0x10 if ext else 0)
    return struct.pack("!BBHII", first, (0x80 if marker else 0) | 96, seq, ts, 7) + ext + payload


def test_onvif_extension_gives_the_frame_time_and_flags() -> None:
    moment = datetime(2024, 5, 1, 12, 0, 0, 500_000, tzinfo=UTC)
    ntp = int((moment - datetime(1900, 1, 1, tzinfo=UTC)).total_seconds() * 2**32)
    ext = struct.pack("!HHQBBH", 0xABAC, 3, ntp, 0x80 | 0x10, 0, 0)
    packet = parse_rtp(_rtp(b"\x65abc", seq=1, ext=ext))
    assert packet.payload == b"\x65abc"
    assert packet.replay is not None
    assert abs((packet.replay.time - moment).total_seconds()) < 1e-6
    assert packet.replay.clean_point
    assert packet.replay.terminal
    assert not packet.replay.discontinuity


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x80\x60", "shorter than its 12-byte header"),
        (b"\x40" + b"\x00" * 11, "version must be 2"),
        (b"\x90" + b"\x00" * 11 + b"\xab\xac\x00\x05", "extension runs past the end"),
    ],
)
def test_malformed_rtp_is_named(data: bytes, message: str) -> None:
    with pytest.raises(RtspProtocolError, match=message):
        parse_rtp(data)


def _packet(payload: bytes, seq: int, *, marker: bool = False, ts: int = 1000) -> RtpPacket:
    return parse_rtp(_rtp(payload, seq=seq, ts=ts, marker=marker))


def test_h264_stap_a_and_fu_a_rebuild_the_nal_units() -> None:
    sps, pps, idr = b"\x67\x01\x02", b"\x68\x03", b"\x65" + bytes(range(50))
    stap = b"\x18" + len(sps).to_bytes(2, "big") + sps + len(pps).to_bytes(2, "big") + pps
    fu = [
        bytes([0x7C, 0x85]) + idr[1:20],
        bytes([0x7C, 0x05]) + idr[20:40],
        bytes([0x7C, 0x45]) + idr[40:],
    ]
    depacketizer = Depacketizer("h264")
    units = depacketizer.push(_packet(stap, 1))
    units += depacketizer.push(_packet(fu[0], 2))
    units += depacketizer.push(_packet(fu[1], 3))
    units += depacketizer.push(_packet(fu[2], 4, marker=True))
    assert len(units) == 1
    assert units[0].nal_units == [sps, pps, idr]
    assert units[0].keyframe
    assert depacketizer.parameter_sets == {7: sps, 8: pps}


def test_h264_fragment_with_a_lost_piece_drops_the_frame() -> None:
    idr = b"\x65" + bytes(range(40))
    depacketizer = Depacketizer("h264")
    units = depacketizer.push(_packet(bytes([0x7C, 0x85]) + idr[1:20], 1))
    units += depacketizer.push(_packet(bytes([0x7C, 0x45]) + idr[20:], 3, marker=True))  # 2 lost
    units += depacketizer.push(_packet(b"\x41next", 4, marker=True, ts=4000))
    assert [u.nal_units for u in units] == [[b"\x41next"]]


def test_h265_fu_rebuilds_the_nal_header() -> None:
    idr = bytes([19 << 1, 1]) + bytes(range(30))  # IDR_W_RADL
    fu = [bytes([49 << 1, 1, 0x80 | 19]) + idr[2:15], bytes([49 << 1, 1, 0x40 | 19]) + idr[15:]]
    depacketizer = Depacketizer("hevc")
    units = depacketizer.push(_packet(fu[0], 1)) + depacketizer.push(_packet(fu[1], 2, marker=True))
    assert [u.nal_units for u in units] == [[idr]]
    assert units[0].keyframe
