"""The parts of a DESCRIBE answer (SDP, RFC 8866) a video recorder needs: the video track, its codec,
its control URL and the parameter sets (RFC 6184 ``sprop-parameter-sets``, RFC 7798 ``sprop-vps/sps/pps``).
"""

from __future__ import annotations

__all__ = ["VideoTrack", "parse_video_track"]

import base64
import binascii
from dataclasses import dataclass

from recording.rtsp.errors import RtspProtocolError

# RTP encoding names (rtpmap) to FFmpeg codec names.
_CODECS = {"H264": "h264", "H265": "hevc"}


@dataclass(frozen=True)
class VideoTrack:
    codec: str  # FFmpeg name: "h264" or "hevc"
    payload_type: int
    clock_rate: int
    control: str
    parameter_sets: tuple[bytes, ...]  # NAL units (no start codes), e.g. SPS and PPS


def _decode_sets(value: str, what: str) -> list[bytes]:
    sets: list[bytes] = []
    for item in value.split(","):
        if not item.strip():
            continue
        try:
            sets.append(base64.b64decode(item.strip(), validate=True))
        except (binascii.Error, ValueError):
            raise RtspProtocolError(f"SDP {what} is not base64: {item[:40]!r}") from None
    return sets


def parse_video_track(sdp: str) -> VideoTrack:
    """The first video track in ``sdp`` whose codec is H.264 or H.265."""
    media: list[list[str]] = []
    for raw in sdp.splitlines():
        line = raw.strip()
        if line.startswith("m="):
            media.append([line])
        elif media:
            media[-1].append(line)
    offered: list[str] = []
    for lines in media:
        fields = lines[0][2:].split()
        if len(fields) < 4 or fields[0] != "video":
            continue
        rtpmap: dict[int, tuple[str, int]] = {}
        fmtp: dict[int, dict[str, str]] = {}
        control = ""
        for line in lines[1:]:
            if line.startswith("a=rtpmap:"):
                number, _, encoding = line[len("a=rtpmap:") :].partition(" ")
                name, _, clock = encoding.partition("/")
                if number.isdigit():
                    rtpmap[int(number)] = (
                        name.upper(),
                        int(clock.split("/")[0]) if clock[:1].isdigit() else 90000,
                    )
            elif line.startswith("a=fmtp:"):
                number, _, params = line[len("a=fmtp:") :].partition(" ")
                if number.isdigit():
                    pairs = (p.strip().partition("=") for p in params.split(";") if p.strip())
                    fmtp[int(number)] = {k.strip().lower(): v.strip() for k, _, v in pairs}
            elif line.startswith("a=control:"):
                control = line[len("a=control:") :]
        for pt_text in fields[3:]:
            if not pt_text.isdigit():
                continue
            pt = int(pt_text)
            name, rate = rtpmap.get(pt, ("?", 90000))
            offered.append(name)
            if name not in _CODECS:
                continue
            wanted = fmtp.get(pt, {})
            if name == "H264":
                sets = _decode_sets(wanted.get("sprop-parameter-sets", ""), "sprop-parameter-sets")
            else:
                sets = []
                for key in ("sprop-vps", "sprop-sps", "sprop-pps"):
                    sets += _decode_sets(wanted.get(key, ""), key)
            return VideoTrack(_CODECS[name], pt, rate, control, tuple(sets))
    raise RtspProtocolError(
        f"SDP has no H.264 or H.265 video track (video encodings offered: {offered or 'none'})"
    )
