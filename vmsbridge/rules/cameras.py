"""Which camera looks at a device: the PTZ aim for a phone, and the cameras a clip comes from."""

from __future__ import annotations

__all__ = ["PtzAim", "phone_aim", "related_cameras"]

import math
from dataclasses import dataclass

from vmsbridge.config import Camera, SiteDirectory


@dataclass(frozen=True)
class PtzAim:
    camera: Camera
    preset: str  # the preset's site-side name; the camera's config maps it to a device token
    why: str


def _distance_km(directory: SiteDirectory, a: str, b: str) -> float:
    """Between two locations' coordinates; unknown coordinates sort last."""
    la, lb = directory.locations.get(a), directory.locations.get(b)
    if la is None or lb is None or la.lat is None or la.lon is None or lb.lat is None or lb.lon is None:
        return math.inf
    # Campus distances: an equirectangular projection is exact enough to rank cameras.
    x = math.radians(lb.lon - la.lon) * math.cos(math.radians((la.lat + lb.lat) / 2))
    y = math.radians(lb.lat - la.lat)
    return 6371.0 * math.hypot(x, y)


def phone_aim(directory: SiteDirectory, phone_id: str) -> PtzAim | None:
    """The phone's configured camera and preset; else the nearest PTZ camera with a preset named
    after the phone (or its location); else None (the caller falls back to fixed cameras)."""
    site = directory.site
    phone = next((p for p in site.phones if p.id == phone_id), None)
    if phone is None:
        return None
    cameras = {c.id: c for c in site.cameras}
    if phone.camera is not None and phone.preset is not None and phone.camera in cameras:
        return PtzAim(cameras[phone.camera], phone.preset, "configured for the phone")
    candidates: list[tuple[int, float, str, Camera, str]] = []
    for camera in site.cameras:
        if not camera.ptz:
            continue
        for rank, wanted in enumerate((phone.id, phone.location)):
            if wanted in camera.presets:
                distance = _distance_km(directory, camera.location, phone.location)
                candidates.append((rank, distance, camera.id, camera, wanted))
                break
    if not candidates:
        return None
    rank, distance, _, camera, preset = min(candidates, key=lambda c: c[:3])
    named = "the phone" if rank == 0 else "its location"
    where = f"{distance * 1000:.0f} m away" if math.isfinite(distance) else "distance unknown"
    return PtzAim(camera, preset, f"nearest PTZ camera with a preset named after {named} ({where})")


def related_cameras(directory: SiteDirectory, device_id: str) -> list[Camera]:
    """Cameras that can show what happened at a device, best first, without repeats.

    A camera: itself. A phone: its PTZ aim, then the fixed cameras at its location. A door: its
    own camera, then the location's fixed cameras. Anything else: the cameras at its location.
    """
    site = directory.site
    cameras = {c.id: c for c in site.cameras}
    location = directory.location_of(device_id)
    ordered: list[Camera] = []
    if device_id in cameras:
        ordered.append(cameras[device_id])
    aim = phone_aim(directory, device_id)
    if aim is not None:
        ordered.append(aim.camera)
    door = next((d for d in site.doors if d.id == device_id), None)
    if door is not None and door.camera in cameras:
        ordered.append(cameras[door.camera])
    at_location = [c for c in site.cameras if c.location == location]
    ordered += [c for c in at_location if not c.ptz] + [c for c in at_location if c.ptz]
    seen: set[str] = set()
    unique = []
    for camera in ordered:
        if camera.id not in seen:
            seen.add(camera.id)
            unique.append(camera)
    return unique
