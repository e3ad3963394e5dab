"""The Media service of an emulated device (profiles, video sources, stream and snapshot URIs) and
the snapshot JPEG its HTTP server serves; the stream itself is the RTSP server's
(:mod:`connectors.onvif.emulator.rtsp`).
"""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from typing import Final

from aiohttp import web

from connectors.onvif.emulator.rtsp import RtspServer
from connectors.onvif.emulator.soap import _Call, _el
from connectors.onvif.emulator.spec import ProfileSpec
from connectors.onvif.emulator.state import DeviceState

__all__ = ["MediaService"]

_RESOLUTION: Final = (1280, 720)


def _render_snapshot(label: str) -> bytes:
    # Imported here so importing the emulator (e.g. for a CLI --help) does not pay for OpenCV.
    import cv2
    import numpy as np

    frame = np.full((240, 320, 3), 96, dtype=np.uint8)
    cv2.putText(frame, label, (10, 125), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
    ok, encoded = cv2.imencode(".jpg", frame)
    if not ok:
        raise RuntimeError("OpenCV could not encode the snapshot JPEG")
    return bytes(encoded.tobytes())


class MediaService(DeviceState):
    """Media operations and the media files they point at."""

    rtsp: RtspServer

    def _profile_element(self, tag: str, profile: ProfileSpec) -> ET.Element:
        index = self.spec.profiles.index(profile) + 1
        vsc = self.vsc_token(profile.video_source)
        users = sum(1 for p in self.spec.profiles if p.video_source == profile.video_source)
        width, height = _RESOLUTION
        source_config = _el(
            "tt:VideoSourceConfiguration",
            _el("tt:Name", vsc),
            _el("tt:UseCount", str(users)),
            _el("tt:SourceToken", profile.video_source),
            _el("tt:Bounds", attrs={"x": "0", "y": "0", "width": str(width), "height": str(height)}),
            attrs={"token": vsc},
        )
        multicast = _el(
            "tt:Multicast",
            _el("tt:Address", _el("tt:Type", "IPv4"), _el("tt:IPv4Address", "0.0.0.0")),
            _el("tt:Port", "0"),
            _el("tt:TTL", "1"),
            _el("tt:AutoStart", "false"),
        )
        encoder = _el(
            "tt:VideoEncoderConfiguration",
            _el("tt:Name", f"VEC_{index}"),
            _el("tt:UseCount", "1"),
            _el("tt:Encoding", "H264"),
            _el("tt:Resolution", _el("tt:Width", str(width)), _el("tt:Height", str(height))),
            _el("tt:Quality", "5"),
            _el(
                "tt:RateControl",
                _el("tt:FrameRateLimit", "25"),
                _el("tt:EncodingInterval", "1"),
                _el("tt:BitrateLimit", "4096"),
            ),
            _el("tt:H264", _el("tt:GovLength", "50"), _el("tt:H264Profile", "Main")),
            multicast,
            _el("tt:SessionTimeout", "PT60S"),
            attrs={"token": f"VEC_{index}"},
        )
        ptz = None
        if profile.ptz:
            ptz = _el(
                "tt:PTZConfiguration",
                _el("tt:Name", f"PTZ_{index}"),
                _el("tt:UseCount", "1"),
                _el("tt:NodeToken", "PTZNode_1"),
                attrs={"token": f"PTZ_{index}"},
            )
        return _el(
            tag,
            _el("tt:Name", profile.token),
            source_config,
            encoder,
            ptz,
            attrs={"token": profile.token, "fixed": "true"},
        )

    async def _get_profiles(self, call: _Call) -> ET.Element:
        profiles = (self._profile_element("trt:Profiles", p) for p in self.spec.profiles)
        return _el("trt:GetProfilesResponse", *profiles)

    async def _get_profile(self, call: _Call) -> ET.Element:
        return _el("trt:GetProfileResponse", self._profile_element("trt:Profile", self._profile(call)))

    async def _get_video_sources(self, call: _Call) -> ET.Element:
        width, height = _RESOLUTION
        sources = (
            _el(
                "trt:VideoSources",
                _el("tt:Framerate", "25"),
                _el("tt:Resolution", _el("tt:Width", str(width)), _el("tt:Height", str(height))),
                attrs={"token": token},
            )
            for token in self._video_sources
        )
        return _el("trt:GetVideoSourcesResponse", *sources)

    @staticmethod
    def _media_uri(tag: str, uri: str) -> ET.Element:
        value = _el(
            "trt:MediaUri",
            _el("tt:Uri", uri),
            _el("tt:InvalidAfterConnect", "false"),
            _el("tt:InvalidAfterReboot", "false"),
            _el("tt:Timeout", "PT0S"),
        )
        return _el(tag, value)

    async def _get_stream_uri(self, call: _Call) -> ET.Element:
        profile = self._profile(call)
        return self._media_uri("trt:GetStreamUriResponse", self.rtsp.live_url(profile.token))

    async def _get_snapshot_uri(self, call: _Call) -> ET.Element:
        profile = self._profile(call)
        return self._media_uri("trt:GetSnapshotUriResponse", f"{call.base_url}/snapshot/{profile.token}.jpg")

    def _profile_from_name(self, request: web.Request, suffix: str) -> ProfileSpec:
        name = request.match_info["name"]
        profile = self._profiles.get(name.removesuffix(suffix)) if name.endswith(suffix) else None
        if profile is None:
            raise web.HTTPNotFound(
                text=f"device {self.spec.id!r} has no media profile for {name!r}; "
                f"profiles: {sorted(self._profiles)}\n"
            )
        return profile

    async def _snapshot(self, request: web.Request) -> web.StreamResponse:
        profile = self._profile_from_name(request, ".jpg")
        if self.quirks.delay_seconds > 0:
            await asyncio.sleep(self.quirks.delay_seconds)
        image = self._snapshots.get(profile.token)
        if image is None:
            image = self._snapshots[profile.token] = _render_snapshot(f"{self.spec.id} {profile.token}")
        return web.Response(body=image, content_type="image/jpeg")
