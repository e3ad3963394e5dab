"""``[health]``: camera-health alerts, the bridge's heartbeat and the daily digest."""

from __future__ import annotations

__all__ = ["OFF_WORDS", "HealthConfig", "parse_digest_time"]

import re
from datetime import time
from pathlib import Path

from pydantic import Field, field_validator

from vmsbridge.config.base import ConfigModel

OFF_WORDS = ("", "off")  # `[health] digest_at` values that turn the daily digest off
_HH_MM = re.compile(r"^(?P<hour>[01]\d|2[0-3]):(?P<minute>[0-5]\d)$")


def parse_digest_time(text: str) -> time | None:
    """``"07:00"`` -> 07:00; ``""``/``"off"`` -> None (off); anything else is a ValueError saying why."""
    value = text.strip()
    if value.lower() in OFF_WORDS:
        return None
    match = _HH_MM.match(value)
    if match is None:
        raise ValueError(
            "expected a site-local time as HH:MM (24-hour, e.g. '07:00'), or '' or 'off' to turn the "
            "daily digest off"
        )
    return time(int(match["hour"]), int(match["minute"]))


class HealthConfig(ConfigModel):
    """Camera-health alerts and the bridge's own heartbeat (see vmsbridge.health)."""

    offline_after_seconds: int = Field(
        300, ge=10, le=7 * 86_400, description="a camera down this long raises camera.offline"
    )
    recover_after_seconds: int = Field(
        60, ge=1, le=86_400, description="a camera must be up this long before camera.online (hysteresis)"
    )
    heartbeat_seconds: int = Field(
        30, ge=1, le=3_600, description="how often a running bridge records that it is alive"
    )
    digest_at: str = Field(
        "07:00",
        description="site-local time (HH:MM) at which a running bridge writes the daily digest; "
        "'' or 'off' turns it off",
    )
    digest_dir: Path | None = Field(
        None, description="where the daily digest files go (default: <data dir>/health-digests)"
    )

    @field_validator("digest_at")
    @classmethod
    def _digest_time(cls, value: str) -> str:
        parse_digest_time(value)  # ValueError says what is expected
        return value
