"""An emulated API Gateway for a site configuration: what `vmsbridge emulate xprotect` serves."""

from __future__ import annotations

__all__ = ["BLUE_LIGHT_EVENT", "emulated_gateway"]

from connectors.xprotect.emulator import (
    INPUT_ACTIVATED,
    AlarmDefinitionSpec,
    CameraSpec,
    InputSpec,
    UserEventSpec,
    XProtectSpec,
)
from vmsbridge.config import SiteConfig

# A user-defined event the bridge triggers so XProtect rules can react to a blue-light call.
BLUE_LIGHT_EVENT = "b1e0b1e0-0000-4000-8000-00000000b1e0"


def emulated_gateway(site: SiteConfig, connector_id: str) -> XProtectSpec:
    cameras = [
        c
        for c in site.cameras
        if (c.source.connector == connector_id and c.source.camera_id) or c.vms_camera_id
    ]
    camera_specs = [
        CameraSpec(
            id=str(c.source.camera_id if c.source.connector == connector_id else c.vms_camera_id),
            name=c.name,
            hardware_id=f"hw-{n:04d}-0000-4000-8000-000000000000",
            ptz_presets={token: name for name, token in c.presets.items()},
        )
        for n, c in enumerate(cameras, start=1)
    ]
    inputs = [
        InputSpec(
            id=i.token,
            name=f"{m.name} {i.token[:8]}",
            hardware_id=f"hw-io-{k:02d}-0000-4000-8000-000000000000",
        )
        for k, m in enumerate((m for m in site.io_modules if m.connector == connector_id), start=1)
        for i in m.inputs
    ]
    # A door contact that trips raises an alarm showing the door's own camera, as a site would set up.
    cameras_by_site_id = {
        c.id: vms_id for c, vms_id in zip(cameras, (s.id for s in camera_specs), strict=True)
    }
    doors = {d.id: d for d in site.doors}
    alarm_definitions: list[AlarmDefinitionSpec] = []
    for module in (m for m in site.io_modules if m.connector == connector_id):
        for io_input in module.inputs:
            door = doors.get(io_input.device)
            related = cameras_by_site_id.get(door.camera) if door is not None and door.camera else None
            alarm_definitions.append(
                AlarmDefinitionSpec(
                    id=f"ad{len(alarm_definitions):06d}-0000-4000-8000-000000000001",
                    name=f"Door contact: {door.name if door else io_input.device}",
                    event_type=INPUT_ACTIVATED,
                    source_ids=[io_input.token],
                    related_cameras=[related] if related else [],
                )
            )
    return XProtectSpec(
        cameras=camera_specs,
        inputs=inputs,
        user_defined_events=[UserEventSpec(BLUE_LIGHT_EVENT, "Blue light activated")],
        alarm_definitions=alarm_definitions,
        site_name=site.site.name,
    )
