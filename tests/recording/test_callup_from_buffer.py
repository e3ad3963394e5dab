"""The call-up flow with a camera whose site entry names its live address (``stream_uri``, an override of
GetStreamUri): its clip comes from the pre-roll buffer of that stream (GStreamer's server), not from the
camera's own recording."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from tests.recording.rtsp_peer import GstRtspPeer, slice_hashes
from tests.rules.conftest import CLIP_WAIT, SITE, eventually, running_bridge
from vmsbridge.config import parse_site_config
from vmsbridge.model import EventKind

PRE, POST = 4.0, 2.0  # the site file shortens the template's 30 s / 60 s window


def _site_recording_the_ptz_camera(tmp_path: Path, url: str) -> str:
    marker = 'vms_camera_id = "0d3c1f2e-7b5a-4c0e-9a51-6e2f3b8d1a00"\n'
    assert marker in SITE
    text = SITE.replace(marker, marker + f'stream_uri = "{url}"\n', 1)
    return (
        text + f"\n[storage]\ndata_dir = '{tmp_path / 'data'}'\n\n[rules]\n"
        'templates = ["blue_light_callup"]\n'
        f"clip = {{ pre_seconds = {PRE}, post_seconds = {POST} }}\n"
    )


async def test_callup_clip_comes_from_the_buffer(
    db_url: str, tmp_path: Path, rtsp_peer: GstRtspPeer, h264_media: Path
) -> None:
    site = parse_site_config(_site_recording_the_ptz_camera(tmp_path, rtsp_peer.url("live")), "buffer-site")
    segments = tmp_path / "data" / "prerolls" / "cam-lotb-ptz"
    async with running_bridge(site, db_url, tmp_path) as bridge:
        assert "prerolls" in bridge.runtime.components
        await eventually(lambda: len(list(segments.glob("*_*.ts"))) >= 2, "two segments of pre-roll", 60)
        io, ptz = bridge.lab.device("onvif-io"), bridge.lab.device("onvif-ptz")

        io.set_input("DI1", True)  # the handset lifts

        incident = await bridge.incident_at("lot-b")
        outcomes = await bridge.outcomes(incident.id, 4, within=CLIP_WAIT)
        clip = next(o for o in outcomes if o.action == "capture_clip")
        assert clip.ok, clip.detail
        assert ptz.rtsp.replay_requests == [], "the clip came from the camera's recording (replay)"
        items = await bridge.stores.evidence.items(incident.id)
        original = next(i for i in items if i.role == "original")
        stored = bridge.engine.ctx.evidence.path_for(original.sha256)
        offhook = next(
            e
            for e in await bridge.stores.incidents.events_of(incident.id)
            if e.kind is EventKind.PHONE_OFFHOOK
        )
        pictures = await asyncio.to_thread(slice_hashes, stored)
    assert set(pictures) <= set(await asyncio.to_thread(slice_hashes, h264_media)), (
        "not the stream's pictures"
    )
    # From the keyframe (1 s apart) at or before t-4 s to t+2 s.
    assert PRE + POST <= len(pictures) / 25 <= PRE + POST + 1.0, f"{len(pictures)} frames for {PRE + POST} s"
    assert original.camera_id == "cam-lotb-ptz"
    assert original.window_start == offhook.occurred_at - timedelta(seconds=PRE)
