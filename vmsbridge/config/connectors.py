"""``[[connectors.<kind>]]``: the devices and VMSs the bridge talks to, and how it logs in.

The core knows no connector kind. Each ``[[connectors.<kind>]]`` table is read by the model of the
installed plug-in of that kind (``vmsbridge.config.load.ConnectorKind``, found by entry point),
which extends :class:`ConnectorConfig`; :class:`ConnectorsConfig` keeps what was read, by kind.
"""

from __future__ import annotations

__all__ = ["ConnectorConfig", "ConnectorsConfig"]

from collections.abc import Mapping, Sequence
from typing import TypeVar, cast

from pydantic import ConfigDict, Field, RootModel, SerializeAsAny

from vmsbridge.config.base import Identifier, SecretSource


class ConnectorConfig(SecretSource):
    """What every ``[[connectors.<kind>]]`` table has: an id, a password source, where it is."""

    id: Identifier
    location: Identifier | None = Field(None, description="where the connector's own events are filed")


C = TypeVar("C", bound=ConnectorConfig)


class ConnectorsConfig(RootModel[dict[str, tuple[SerializeAsAny[ConnectorConfig], ...]]]):
    """The site's connectors: kind -> its ``[[connectors.<kind>]]`` tables, as its plug-in read them."""

    model_config = ConfigDict(frozen=True)
    root: dict[str, tuple[SerializeAsAny[ConnectorConfig], ...]] = Field(default_factory=dict)

    def configured(self) -> dict[str, tuple[ConnectorConfig, ...]]:
        """Every kind the site has connectors of, with them, in the order of the site file."""
        return {kind: found for kind, found in self.root.items() if found}

    def of_kind(self, kind: str, model: type[C]) -> tuple[C, ...]:
        """The connectors of ``kind``, typed as its plug-in's ``model`` (which read them)."""
        found = self.root.get(kind, ())
        for connector in found:
            if not isinstance(connector, model):
                raise TypeError(
                    f"connectors.{kind}: {connector.id!r} was read as {type(connector).__name__}, "
                    f"not {model.__name__}"
                )
        return cast("tuple[C, ...]", found)

    def replacing(self, by_kind: Mapping[str, Sequence[ConnectorConfig]]) -> ConnectorsConfig:
        """A copy with the connectors of each kind in ``by_kind`` replaced (e.g. pointed at emulators)."""
        return ConnectorsConfig(self.root | {kind: tuple(found) for kind, found in by_kind.items()})
