"""``[[connectors.*]]``: the devices and VMSs the bridge talks to, and how it logs in.

ONVIF and XProtect tables are read by the models here. Any other ``[[connectors.<kind>]]`` is read
by the model of the installed plug-in of that kind (``vmsbridge.config.load.ConnectorKind``, found
by entry point): it extends :class:`ConnectorConfig`.
"""

from __future__ import annotations

__all__ = [
    "BUILT_IN_KINDS",
    "ConnectorConfig",
    "ConnectorsConfig",
    "OnvifSource",
    "XProtectSource",
]

from collections.abc import Sequence
from pathlib import Path

from pydantic import Field, SerializeAsAny

from vmsbridge.config.base import ConfigModel, Identifier, SecretSource

BUILT_IN_KINDS = ("onvif", "xprotect")  # read by the models here; every other kind by its plug-in's


class ConnectorConfig(SecretSource):
    """What every ``[[connectors.<kind>]]`` table has: an id, a password source, where it is."""

    id: Identifier
    location: Identifier | None = Field(None, description="where the connector's own events are filed")


class OnvifSource(ConnectorConfig):
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


class XProtectSource(ConnectorConfig):
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
    # Every other kind, as its plug-in's model read it; never read from the file under this name.
    by_kind: dict[str, tuple[SerializeAsAny[ConnectorConfig], ...]] = Field(default_factory=dict)

    def configured(self) -> dict[str, tuple[ConnectorConfig, ...]]:
        """Every kind the site has connectors of, with them, built-in kinds first."""
        every: dict[str, tuple[ConnectorConfig, ...]] = {
            "onvif": tuple(self.onvif),
            "xprotect": tuple(self.xprotect),
        }
        every |= self.by_kind
        return {kind: found for kind, found in every.items() if found}

    def replacing(self, by_kind: dict[str, Sequence[ConnectorConfig]]) -> ConnectorsConfig:
        """A copy with the connectors of each kind in ``by_kind`` replaced (e.g. pointed at emulators)."""
        update: dict[str, object] = {k: list(v) for k, v in by_kind.items() if k in BUILT_IN_KINDS}
        others = {k: tuple(v) for k, v in by_kind.items() if k not in BUILT_IN_KINDS}
        if others:
            update["by_kind"] = self.by_kind | others
        return self.model_copy(update=update)
