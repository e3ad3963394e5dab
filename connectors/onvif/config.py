"""``[[connectors.onvif]]``: one ONVIF device each, and the checks only ONVIF needs.

The plug-in (``vmsbridge.plugins.ConnectorPackage``) hands :data:`MODEL` to ``vmsbridge.config``
to read the tables, and :func:`check` runs once the whole site file has been read.
"""

from __future__ import annotations

__all__ = ["KIND", "MODEL", "OnvifSource", "check", "onvif_connectors"]

from collections import Counter
from collections.abc import Iterator
from typing import Final

from pydantic import Field

from vmsbridge.config import ConnectorConfig, Identifier, SiteConfig
from vmsbridge.errors import ConfigProblem

KIND: Final = "onvif"


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


MODEL = OnvifSource  # what the plug-in reads each [[connectors.onvif]] with


def onvif_connectors(site: SiteConfig) -> tuple[OnvifSource, ...]:
    """The site's ``[[connectors.onvif]]``, in file order."""
    return site.connectors.of_kind(KIND, OnvifSource)


def _twice(values: list[str]) -> list[str]:
    return sorted(value for value, n in Counter(values).items() if n > 1)


def check(site: SiteConfig) -> Iterator[ConfigProblem]:
    """What makes two site entries claim the same thing on one device: a media profile used by two
    cameras, a device input mapped by two I/O modules."""
    for connector in onvif_connectors(site):
        profiles = [c.source.profile for c in site.cameras if c.source.connector == connector.id]
        for profile in _twice([p for p in profiles if p]):
            yield ConfigProblem(
                "cameras", f"media profile {profile!r} is used by two cameras on {connector.id!r}"
            )
        tokens = [i.token for m in site.io_modules if m.connector == connector.id for i in m.inputs]
        for token in _twice(tokens):
            yield ConfigProblem(
                "io_modules", f"input {token!r} of connector {connector.id!r} is mapped twice"
            )
