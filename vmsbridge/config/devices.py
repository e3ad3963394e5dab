"""Where things are and what is installed there: locations, cameras (with their privacy masks),
emergency phones, doors and I/O modules."""

from __future__ import annotations

__all__ = [
    "Camera",
    "CameraMask",
    "CameraSource",
    "Door",
    "EmergencyPhone",
    "IoInput",
    "IoModule",
    "Location",
]

from typing import Literal

from pydantic import Field, field_validator

from vmsbridge.config.base import ConfigModel, Identifier
from vmsbridge.model import CleryGeography, EventKind


class Location(ConfigModel):
    id: Identifier
    name: str = Field(min_length=1)
    clery_geography: CleryGeography
    student_housing: bool = False
    public_label: str = Field(min_length=1, description="general location text safe for the public log")
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    adjacent: list[Identifier] = Field(
        default_factory=list, description="locations next to this one: their events may join its incidents"
    )


class CameraSource(ConfigModel):
    connector: Identifier = Field(description="id of a [[connectors.<kind>]], e.g. an ONVIF encoder or a VMS")
    profile: str | None = Field(None, description="ONVIF media profile token")
    camera_id: str | None = Field(None, description="XProtect camera id (GUID)")


class CameraMask(ConfigModel):
    """A privacy mask: ``permanent`` is always applied; ``liftable`` unless a lift is in force."""

    label: str = Field(min_length=1, description="name a lift refers to, e.g. 'dorm-windows'")
    kind: Literal["permanent", "liftable"]
    polygon: str = Field(description='"x1,y1 x2,y2 x3,y3 ..." in pixels of the camera\'s frame')

    @field_validator("polygon")
    @classmethod
    def _parses(cls, value: str) -> str:
        from analytics.geometry import parse_pixel_polygon  # cv2 and numpy: only when a mask is set

        parse_pixel_polygon(value)  # ValueError names what is wrong
        return value


class Camera(ConfigModel):
    id: Identifier
    name: str = Field(min_length=1)
    location: Identifier
    source: CameraSource
    ptz: bool = False
    presets: dict[str, str] = Field(default_factory=dict, description="preset name -> device preset token")
    masks: list[CameraMask] = Field(default_factory=list, description="privacy masks applied to its footage")
    vms_camera_id: str | None = Field(
        None,
        description="its XProtect camera id when the VMS also records a camera the bridge controls directly",
    )


class EmergencyPhone(ConfigModel):
    id: Identifier
    name: str = Field(min_length=1)
    location: Identifier
    camera: Identifier | None = Field(None, description="PTZ camera that covers this phone")
    preset: str | None = Field(None, description="that camera's preset name aimed at the phone")


class Door(ConfigModel):
    id: Identifier
    name: str = Field(min_length=1)
    location: Identifier
    connector: Identifier = Field(description="access-control source reporting this door")
    token: str = Field(min_length=1, description="door token on the access controller / VMS")
    access_point: str | None = Field(None, description="token of its reader's access point (default: token)")
    camera: Identifier | None = None

    @property
    def access_point_token(self) -> str:
        return self.access_point or self.token


class IoInput(ConfigModel):
    token: str = Field(min_length=1, description="input token on the I/O module, e.g. 'DI1'")
    device: Identifier = Field(description="the site device this input belongs to")
    active: EventKind = Field(description="what the input going active means, e.g. 'phone.offhook'")
    inactive: EventKind | None = Field(None, description="what it going inactive means")


class IoModule(ConfigModel):
    id: Identifier
    name: str = Field(min_length=1)
    location: Identifier
    connector: Identifier
    inputs: list[IoInput] = Field(default_factory=list)
