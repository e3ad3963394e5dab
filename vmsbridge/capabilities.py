"""What a connector kind can do for a site: the words a plug-in declares in ``capabilities``.

Rules and templates ask "which connectors offer alarms", never "which are XProtect", so a new
plug-in that declares a capability is used wherever that capability is needed. Shared by
:mod:`vmsbridge.config` (which checks rules against the site) and :mod:`vmsbridge.plugins` (which
runs connectors) so that neither imports the other. Standard library only.
"""

from __future__ import annotations

__all__ = ["ALARMS", "CAPABILITIES", "CLIPS", "EVENTS", "HEALTH", "PTZ", "connectors_offering"]

from collections.abc import Iterable, Mapping
from typing import Final, Protocol

EVENTS: Final = "events"  # an event source feeding the bus
PTZ: Final = "ptz"  # cameras it can turn to a preset
ALARMS: Final = "alarms"  # alarms and user-defined events raised in a VMS
CLIPS: Final = "clips"  # recorded video it can hand over
HEALTH: Final = "health"  # device health it reports
CAPABILITIES: Final = frozenset({EVENTS, PTZ, ALARMS, CLIPS, HEALTH})


class _Declares(Protocol):
    @property
    def capabilities(self) -> frozenset[str]: ...


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


def connectors_offering(
    capability: str,
    configured: Mapping[str, Iterable[_Identified]],
    kinds: Mapping[str, _Declares],
) -> list[str]:
    """Ids of the ``configured`` connectors (by kind) whose kind declares ``capability``, in order."""
    return [
        connector.id
        for kind, found in configured.items()
        if kind in kinds and capability in kinds[kind].capabilities
        for connector in found
    ]
