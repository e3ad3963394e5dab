"""``[notifications]``: timely warnings and emergency notifications, the CAP sender, the areas
alerts cover and where the messages are delivered.
"""

from __future__ import annotations

__all__ = [
    "NotificationSinksConfig",
    "NotificationsConfig",
    "SmtpSinkConfig",
    "WebhookSinkConfig",
    "parse_cap_polygon",
]

from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator

from vmsbridge.config.base import ConfigModel


def parse_cap_polygon(text: str) -> tuple[tuple[float, float], ...]:
    """``"lat,lon lat,lon ..."`` (WGS 84): at least 4 points, the last equal to the first."""
    points: list[tuple[float, float]] = []
    for n, pair in enumerate(text.split(), start=1):
        try:
            lat_text, lon_text = pair.split(",")
            lat, lon = float(lat_text), float(lon_text)
        except ValueError:
            raise ValueError(f"point {n} {pair!r} is not 'lat,lon'") from None
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise ValueError(f"point {n} {pair!r} is outside latitude -90..90 / longitude -180..180")
        points.append((lat, lon))
    if len(points) < 4:
        raise ValueError(
            f"a CAP polygon needs at least 4 points (the first repeated last), got {len(points)}"
        )
    if points[0] != points[-1]:
        raise ValueError("a CAP polygon must end on its first point")
    return tuple(points)


class WebhookSinkConfig(ConfigModel):
    url: str = Field(pattern=r"^https?://", description="where each CAP message is POSTed")
    secret_env: str | None = Field(
        None, description="environment variable with a shared secret: the body is signed (HMAC-SHA256)"
    )
    max_attempts: int = Field(8, ge=1, le=100, description="after this many failures a delivery is 'failed'")
    timeout_seconds: float = Field(10, gt=0, le=300)


class SmtpSinkConfig(ConfigModel):
    host: str = Field(min_length=1)
    port: int = Field(25, ge=1, le=65_535)
    from_address: str = Field(alias="from", pattern=r"^[^@\s]+@[^@\s]+$", description="envelope sender")
    to: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]] = Field(min_length=1)
    username: str | None = Field(None, description="log in as this user (password from password_env)")
    password_env: str | None = Field(None, description="environment variable holding the SMTP password")
    starttls: bool = False
    max_attempts: int = Field(8, ge=1, le=100)
    timeout_seconds: float = Field(30, gt=0, le=300)


class NotificationSinksConfig(ConfigModel):
    directory: Path | None = Field(
        None, description="every CAP message is written here as <identifier>.xml (default: <data dir>/cap)"
    )
    webhook: WebhookSinkConfig | None = None
    smtp: SmtpSinkConfig | None = None


class NotificationsConfig(ConfigModel):
    """Timely warnings and emergency notifications, issued as CAP 1.2 messages."""

    sender: str = Field(
        "vmsbridge@localhost",
        pattern=r"^[^\s,<&]+$",
        description="CAP sender id, e.g. 'police@campus.example.edu' (no spaces, commas, '<' or '&')",
    )
    sender_name: str | None = Field(None, description="the issuing office's name (default: [site] name)")
    how_to_report: str = Field("Report information to Campus Police; in an emergency call 911.", min_length=1)
    safety_tips: list[str] = Field(
        default_factory=lambda: [
            "Be aware of your surroundings and walk with others at night.",
            "Lock doors and windows and do not prop open secured doors.",
        ]
    )
    circle_radius_km: float = Field(0.2, gt=0, le=100, description="alert circle around a location's lat/lon")
    areas: dict[str, str] = Field(
        default_factory=dict,
        description="location id -> CAP polygon 'lat,lon lat,lon ...' (closed, 4+ points), used "
        "instead of the circle",
    )
    sinks: NotificationSinksConfig = NotificationSinksConfig()

    @field_validator("areas")
    @classmethod
    def _polygons_parse(cls, value: dict[str, str]) -> dict[str, str]:
        for location_id, polygon in value.items():
            try:
                parse_cap_polygon(polygon)
            except ValueError as exc:
                raise ValueError(f"{location_id}: {exc}") from None
        return value
