"""``[[connectors.*]]``: the devices and VMSs the bridge talks to, and how it logs in."""

from __future__ import annotations

__all__ = ["ConnectorsConfig", "OnvifSource", "XProtectSource"]

from pathlib import Path

from pydantic import Field

from vmsbridge.config.base import ConfigModel, Identifier, SecretSource


class OnvifSource(SecretSource):
    id: Identifier
    host: str = Field(min_length=1)
    port: int = Field(80, ge=1, le=65_535)
    username: str = Field(min_length=1)
    location: Identifier | None = Field(
        None, description="where the device is installed; its own events (unknown topics) are filed there"
    )
    subscription_seconds: int = Field(600, ge=10, le=86_400, description="PullPoint lifetime asked for")
    pull_timeout_seconds: int = Field(20, ge=1, le=300, description="PullMessages long-poll Timeout")
    message_limit: int = Field(100, ge=1, le=1_000, description="PullMessages MessageLimit")
    health_interval_seconds: float = Field(30, ge=0.05, le=3_600, description="seconds between health probes")


class XProtectSource(SecretSource):
    id: Identifier
    url: str = Field(pattern=r"^https?://", description="API Gateway base URL")
    username: str = Field(min_length=1)
    ca_file: Path | None = Field(None, description="CA bundle for the gateway's TLS certificate")
    insecure_skip_verify: bool = Field(False, description="labs only: do not verify TLS")
    location: Identifier | None = Field(
        None, description="where the VMS's own events (user-defined, gaps) are filed"
    )
    alarm_poll_seconds: float = Field(
        10, ge=0.05, le=3_600, description="how often to look for new VMS alarms"
    )
    ptz_task: str | None = Field(
        None, description="REST task id for go-to-preset (default: discovered with ?tasks)"
    )
    export_folder: Path | None = Field(None, description="drop folder where XProtect video exports land")
    export_wait_seconds: float = Field(
        120, ge=0, le=3_600, description="how long to wait for an export to appear"
    )


class ConnectorsConfig(ConfigModel):
    onvif: list[OnvifSource] = Field(default_factory=list)
    xprotect: list[XProtectSource] = Field(default_factory=list)
