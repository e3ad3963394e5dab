"""What event sources keep across restarts of the bridge: small JSON objects by source and key.

A VMS connector keeps where its event session stands (to resume it, or to know how long it was
blind) and which alarms it raised itself (so as not to ingest them as the VMS's own).
"""

from __future__ import annotations

__all__ = ["SourceMemoryStore", "SourceScopedMemory"]

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from vmsbridge.errors import StoreError
from vmsbridge.store.database import Database
from vmsbridge.store.tables import SourceMemoryRow

MAX_KEY_CHARS = 80


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SourceMemoryStore:
    def __init__(self, db: Database, *, clock: Callable[[], datetime] = _utc_now) -> None:
        self._db = db
        self._clock = clock

    async def recall(self, source: str, key: str) -> dict[str, Any] | None:
        """What ``source`` kept under ``key``, or None if it never kept anything there."""
        async with self._db.sessions() as session:
            row = await session.get(SourceMemoryRow, (source, key))
            return None if row is None else dict(row.value)

    async def keep(self, source: str, key: str, value: dict[str, Any]) -> None:
        """Replace what ``source`` keeps under ``key``."""
        if not key or len(key) > MAX_KEY_CHARS:
            raise ValueError(f"key must be 1 to {MAX_KEY_CHARS} characters, got {key!r}")
        async with self._db.transaction() as session:
            await session.merge(
                SourceMemoryRow(source=source, key=key, value=value, updated_at=self._clock())
            )

    def for_source(self, source: str) -> SourceScopedMemory:
        return SourceScopedMemory(self, source)


class SourceScopedMemory:
    """One source's view of the store (a :class:`vmsbridge.sources.SourceMemory`); a database
    failure is a :class:`~vmsbridge.errors.StoreError`."""

    def __init__(self, store: SourceMemoryStore, source: str) -> None:
        self._store = store
        self.source = source

    async def recall(self, key: str) -> dict[str, Any] | None:
        try:
            return await self._store.recall(self.source, key)
        except (SQLAlchemyError, OSError) as exc:
            raise StoreError(f"{self.source}: could not read {key!r}: {exc}") from exc

    async def keep(self, key: str, value: dict[str, Any]) -> None:
        try:
            await self._store.keep(self.source, key, value)
        except (SQLAlchemyError, OSError) as exc:
            raise StoreError(f"{self.source}: could not keep {key!r}: {exc}") from exc
