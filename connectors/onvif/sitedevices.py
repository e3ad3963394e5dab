"""Emulated ONVIF devices for a site configuration: what `vmsbridge emulate onvif` serves."""

from __future__ import annotations

__all__ = ["emulated_devices"]

from pathlib import Path

from connectors.onvif.config import onvif_connectors
from connectors.onvif.emulator import DeviceSpec, ProfileSpec
from vmsbridge.config import SiteConfig


def emulated_devices(site: SiteConfig, clip: Path | None = None) -> list[DeviceSpec]:
    """One device per ``[[connectors.onvif]]``, with the profiles, presets, inputs and doors the
    site configuration expects to find on it."""
    devices = []
    for connector in onvif_connectors(site):
        cameras = [c for c in site.cameras if c.source.connector == connector.id and c.source.profile]
        profiles = [
            ProfileSpec(
                token=str(camera.source.profile),
                video_source=f"VideoSource_{n}",
                ptz=camera.ptz,
                presets={token: name for name, token in camera.presets.items()},
            )
            for n, camera in enumerate(cameras, start=1)
        ] or [ProfileSpec(token="Profile_1", video_source="VideoSource_1")]
        inputs = [i.token for m in site.io_modules if m.connector == connector.id for i in m.inputs]
        doors = [d for d in site.doors if d.connector == connector.id]
        devices.append(
            DeviceSpec(
                id=connector.id,
                model="EmuEncoder",
                profiles=profiles,
                inputs=inputs,
                relays=["RO1"] if inputs else [],
                doors=[d.token for d in doors],
                access_points=[d.access_point_token for d in doors],
                clip=clip,
            )
        )
    return devices
