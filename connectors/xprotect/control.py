"""What the bridge makes XProtect do for a rule: raise alarms, trigger user-defined events, PTZ go-to.

It works through the event source's own client, so the source knows which alarms the bridge raised
and does not report them back as VMS alarms.
"""

from __future__ import annotations

__all__ = ["XProtectControl", "build_xprotect_controls"]

import time
from datetime import UTC, datetime
from pathlib import Path

from connectors.xprotect.clips import DropFolderClipSource
from connectors.xprotect.recorded_clips import RecordedClipSource, recorder_tls
from connectors.xprotect.source import XProtectEventSource
from vmsbridge.config import Camera, SiteConfig
from vmsbridge.controls import Controls, PtzMove
from vmsbridge.sources import EventSource


class XProtectControl:
    def __init__(self, source: XProtectEventSource) -> None:
        self.source = source
        self.connector = source.connector

    def vms_camera_id(self, camera: Camera | None) -> str | None:
        """The camera's id in this VMS: its source if the VMS streams it, else ``vms_camera_id``."""
        if camera is None:
            return None
        if camera.source.connector == self.connector.id and camera.source.camera_id:
            return camera.source.camera_id
        return camera.vms_camera_id

    async def raise_alarm(self, name: str, message: str, camera: Camera | None, priority: str | None) -> str:
        await self.source.client.open()
        return await self.source.raise_alarm(name, message, self.vms_camera_id(camera), priority)

    async def trigger_user_event(self, event: str, camera: Camera | None) -> None:
        await self.source.client.open()
        camera_id = self.vms_camera_id(camera)
        # The Events REST API names a source by its resource path; without one, the user-defined
        # event is its own source.
        await self.source.client.trigger_event(event, f"cameras/{camera_id}" if camera_id else None)

    async def goto_preset(self, camera: Camera, preset_token: str, *, settle_seconds: float) -> PtzMove:
        camera_id = self.vms_camera_id(camera)
        if camera_id is None:
            raise ValueError(f"camera {camera.id} has no XProtect camera id")
        await self.source.client.open()
        sent_at = datetime.now(UTC)
        started = time.perf_counter()
        # The REST task returns when the move is done, so acknowledgement and settling coincide.
        seconds = await self.source.client.goto_preset(camera_id, preset_token, task=self.connector.ptz_task)
        return PtzMove(sent_at, time.perf_counter() - started, seconds)


def build_xprotect_controls(
    site: SiteConfig, sources: list[EventSource], work_dir: Path | None = None
) -> Controls:
    controls = Controls()
    for source in sources:
        if not isinstance(source, XProtectEventSource):
            continue
        control = XProtectControl(source)
        connector = source.connector
        controls.alarms[connector.id] = control
        controls.ptz[connector.id] = control
        export: DropFolderClipSource | None = None
        if connector.export_folder is not None:
            names = {
                c.id: [n for n in (c.source.camera_id, c.vms_camera_id, c.name) if n]
                for c in site.cameras
                if c.source.connector == connector.id or c.vms_camera_id
            }
            export = DropFolderClipSource(
                connector.export_folder,
                names,
                wait_seconds=connector.export_wait_seconds,
                filename_zone=site.site.timezone,
            )
        recorded = {
            c.id: c.source.camera_id
            for c in site.cameras
            if c.source.connector == connector.id and c.source.camera_id
        }
        if work_dir is not None and recorded:
            # The recording server first (ImageServer protocol), the export folder second.
            controls.clips[connector.id] = RecordedClipSource(
                source.client,
                recorded,
                work_dir,
                fallback=export,
                ssl_context=recorder_tls(connector.ca_file, connector.insecure_skip_verify),
            )
        elif export is not None:
            controls.clips[connector.id] = export
    return controls
