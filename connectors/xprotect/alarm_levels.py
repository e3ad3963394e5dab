"""Alarm states and priorities by id: the gateway sends ``state``/``priority`` as GUIDs.

The name may come along (``stateName``/``priorityName``, or an ``{"id", "name"}`` object);
otherwise it is looked up in ``/alarmStates`` or ``/alarmPriorities``, listed once and listed
again when an id is not in the cached list (a level added on the server since).
"""

from __future__ import annotations

__all__ = ["AlarmLevels", "Level"]

import logging
import time
from dataclasses import dataclass

from connectors.xprotect.client import XProtectClient
from connectors.xprotect.errors import XProtectError

log = logging.getLogger(__name__)

CLOSED_NAME = "closed"
CLOSED_LEVEL = 11  # the classic numeric level of "Closed"
RELIST_SECONDS = 10.0  # an unknown id lists the levels again at most this often


@dataclass(frozen=True)
class Level:
    id: str
    name: str
    level: int | None = None

    @property
    def closed(self) -> bool:
        return self.name.strip().lower() == CLOSED_NAME or self.level == CLOSED_LEVEL


class AlarmLevels:
    def __init__(self, client: XProtectClient) -> None:
        self._client = client
        self._by_id: dict[str, dict[str, Level]] = {}  # resource -> id (lower case) -> level
        self._listed_at: dict[str, float] = {}
        self.listings = 0

    async def name(self, resource: str, value: object, name: object = None) -> Level:
        """The level ``value`` names (a GUID, an ``{"id", "name"}`` object, or a name) in
        ``resource`` (``alarmStates`` or ``alarmPriorities``); ``name`` is a name sent alongside."""
        if isinstance(value, dict):
            name = value.get("name") or name
            value = value.get("id")
        level_id = "" if value is None else str(value)
        if isinstance(name, str) and name:
            return Level(level_id, name)
        known = await self._find(resource, level_id)
        # Not an id the server lists: older gateways send the name itself.
        return known if known is not None else Level(level_id, level_id)

    async def _find(self, resource: str, level_id: str) -> Level | None:
        if not level_id:
            return None
        key = level_id.lower()
        cached = self._by_id.get(resource)
        if cached is not None and key in cached:
            return cached[key]
        if cached is None or time.monotonic() - self._listed_at.get(resource, 0.0) >= RELIST_SECONDS:
            await self._list(resource)
        return self._by_id.get(resource, {}).get(key)

    async def _list(self, resource: str) -> None:
        self._listed_at[resource] = time.monotonic()
        try:
            items = await self._client.get_list(resource)
        except XProtectError as exc:
            log.warning("%s; alarm %s are shown by id", exc, resource)
            return
        self.listings += 1
        levels: dict[str, Level] = {}
        for item in items:
            if "id" not in item:
                continue
            raw_level = item.get("level")
            level = raw_level if isinstance(raw_level, int) and not isinstance(raw_level, bool) else None
            name = str(item.get("name") or item.get("displayName") or item["id"])
            levels[str(item["id"]).lower()] = Level(str(item["id"]), name, level)
        self._by_id[resource] = levels
