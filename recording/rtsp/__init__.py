"""A small asyncio RTSP/RTP client: what FFmpeg's RTSP demuxer cannot do (ONVIF replay headers).

``session`` (requests, auth, interleaved TCP), ``message`` (the wire format), ``auth`` (Digest/Basic),
``sdp`` (the video track), ``rtp`` (packets and the ONVIF 0xABAC extension), ``depacketize`` (H.264/H.265
access units) and ``remux`` (access units to MP4 without re-encoding).
"""

from recording.rtsp.errors import (
    RtspAuthError,
    RtspConnectError,
    RtspError,
    RtspNotFound,
    RtspOptionNotSupported,
    RtspProtocolError,
    RtspStatusError,
    RtspStreamEnded,
    RtspTimeout,
    RtspUrlError,
)
from recording.rtsp.session import RtspSession, public_url

__all__ = [
    "RtspAuthError",
    "RtspConnectError",
    "RtspError",
    "RtspNotFound",
    "RtspOptionNotSupported",
    "RtspProtocolError",
    "RtspSession",
    "RtspStatusError",
    "RtspStreamEnded",
    "RtspTimeout",
    "RtspUrlError",
    "public_url",
]
