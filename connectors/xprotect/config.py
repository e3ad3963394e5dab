"""``[[connectors.xprotect]]``: one XProtect API Gateway each, and the checks only XProtect needs.

The plug-in (``vmsbridge.plugins.ConnectorPackage``) hands :data:`MODEL` to ``vmsbridge.config``
to read the tables, and :func:`check` runs once the whole site file has been read.
"""

from __future__ import annotations

__all__ = ["KIND", "MODEL", "XProtectSource", "check", "xprotect_connectors"]

from collections.abc import Iterator
from pathlib import Path
from typing import Final

from pydantic import Field

from vmsbridge.config import ConnectorConfig, Identifier, SiteConfig
from vmsbridge.errors import ConfigProblem

KIND: Final = "xprotect"


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


MODEL = XProtectSource  # what the plug-in reads each [[connectors.xprotect]] with


def xprotect_connectors(site: SiteConfig) -> tuple[XProtectSource, ...]:
    """The site's ``[[connectors.xprotect]]``, in file order."""
    return site.connectors.of_kind(KIND, XProtectSource)


def check(site: SiteConfig) -> Iterator[ConfigProblem]:
    """A camera on a gateway is known to it by its XProtect camera id: each needs one."""
    gateways = {c.id for c in xprotect_connectors(site)}
    for i, camera in enumerate(site.cameras):
        if camera.source.connector in gateways and not camera.source.camera_id:
            yield ConfigProblem(
                f"cameras[{i}].source.camera_id", "required for a camera on an XProtect connector"
            )
