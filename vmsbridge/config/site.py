"""The site file as a whole (:class:`SiteConfig`), and its sections about the site, its storage
and correlation.
"""

from __future__ import annotations

__all__ = ["CorrelationConfig", "SiteConfig", "SiteInfo", "StorageConfig"]

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from vmsbridge.config.base import ConfigModel
from vmsbridge.config.clery import CleryConfig
from vmsbridge.config.connectors import ConnectorsConfig
from vmsbridge.config.devices import Camera, Door, EmergencyPhone, IoModule, Location
from vmsbridge.config.evidence import EvidenceConfig
from vmsbridge.config.health import HealthConfig
from vmsbridge.config.notifications import NotificationsConfig
from vmsbridge.config.rules import RulesConfig


class SiteInfo(ConfigModel):
    name: str = Field(min_length=1, description="institution or campus name")
    timezone: str = Field(description="IANA zone of the institution, e.g. 'America/Chicago'")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("expected an IANA time zone name such as 'America/New_York'") from None
        return value


class StorageConfig(ConfigModel):
    db_url: str | None = Field(None, description="SQLAlchemy URL; default: SQLite in data_dir")
    data_dir: Path | None = Field(None, description="where the SQLite database and evidence live")


class CorrelationConfig(ConfigModel):
    window_seconds: int = Field(
        600, ge=1, le=86_400, description="largest gap between events that still joins one incident"
    )
    quiet_close_seconds: int = Field(
        1_800, ge=60, le=7 * 86_400, description="an incident with no new event for this long closes"
    )


class SiteConfig(ConfigModel):
    site: SiteInfo
    storage: StorageConfig = StorageConfig()
    correlation: CorrelationConfig = CorrelationConfig()
    health: HealthConfig = HealthConfig()
    evidence: EvidenceConfig = EvidenceConfig()
    clery: CleryConfig = CleryConfig()
    notifications: NotificationsConfig = NotificationsConfig()
    locations: list[Location] = Field(min_length=1)
    cameras: list[Camera] = Field(default_factory=list)
    phones: list[EmergencyPhone] = Field(default_factory=list)
    doors: list[Door] = Field(default_factory=list)
    io_modules: list[IoModule] = Field(default_factory=list)
    connectors: ConnectorsConfig = ConnectorsConfig()
    rules: RulesConfig = RulesConfig()
