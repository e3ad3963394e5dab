"""Engine and session factory for the embedded (SQLite) and production (PostgreSQL) stores."""

from __future__ import annotations

__all__ = ["Database", "default_data_dir", "resolve_db_url"]

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from vmsbridge.errors import ConfigError, ConfigProblem
from vmsbridge.store import db_errors

DB_ENV = "VMSBRIDGE_DB"
_WRITE_UNIT = "vmsbridge_write_unit"  # execution option: this SQLite transaction will write
DATA_ENV = "VMSBRIDGE_DATA"


def default_data_dir() -> Path:
    if env := os.environ.get(DATA_ENV):
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "vmsbridge"


def resolve_db_url(
    explicit_url: str | None, config_url: str | None = None, data_dir: Path | None = None
) -> str:
    """A URL given explicitly (the command line's) beats ``VMSBRIDGE_DB`` beats the config file
    beats SQLite in the data directory.

    Plain ``postgresql://`` and ``sqlite://`` URLs are given their async drivers.
    """
    url = explicit_url or os.environ.get(DB_ENV) or config_url
    if not url:
        directory = data_dir or default_data_dir()
        directory.mkdir(parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{directory / 'vmsbridge.db'}"
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            "database URL", [ConfigProblem("db", f"{_redact(url)!r} is not a database URL")]
        ) from None
    driver = {
        "postgresql": "postgresql+asyncpg",
        "postgres": "postgresql+asyncpg",
        "sqlite": "sqlite+aiosqlite",
    }
    if parsed.drivername in driver:
        parsed = parsed.set(drivername=driver[parsed.drivername])
    if parsed.drivername not in ("postgresql+asyncpg", "sqlite+aiosqlite"):
        raise ConfigError(
            "database URL",
            [
                ConfigProblem(
                    "db", f"driver {parsed.drivername!r} is not supported: use postgresql:// or sqlite://"
                )
            ],
        )
    return parsed.render_as_string(hide_password=False)


def _redact(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable>"


class Database:
    """Owns one async engine and its session factory; close it where you made it."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url: URL = make_url(url)
        kwargs: dict[str, Any] = {"echo": echo, **db_errors.ENGINE_OPTIONS}
        if self.is_sqlite:
            # One writer at a time is SQLite's nature; a wait beats a "database is locked" error.
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs.update(pool_size=5, max_overflow=5, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        db_errors.install(self.engine.sync_engine)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin)
        self.sessions: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.engine, expire_on_commit=False
        )
        self._write_turn = asyncio.Lock()  # SQLite only: see transaction()
        # Names this engine's commits in change notifications (store.commit_watch), so that a
        # process can tell its own commits from other writers'.
        self.writer_id = uuid.uuid4().hex
        self._writer: asyncio.Task[Any] | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    @property
    def display_url(self) -> str:
        return self.url.render_as_string(hide_password=True)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A unit of work that commits at the end of the block (or rolls back on an error).

        SQLite has one writer at a time. This process's write transactions queue here, in order,
        instead of racing for the file lock; and each takes the file's write lock when it begins
        (``BEGIN IMMEDIATE``), so another process (``events import`` beside a running bridge)
        cannot write between what this unit reads and what it writes: it waits its turn.
        """
        if not self.is_sqlite:
            async with self.sessions.begin() as session:
                yield session
            return
        task = asyncio.current_task()
        if task is not None and task is self._writer:
            raise RuntimeError("a write transaction was opened inside another one in the same task")
        async with self._write_turn:
            self._writer = task
            try:
                async with self.sessions.begin() as session:
                    await session.connection(execution_options={_WRITE_UNIT: True})
                    yield session
            finally:
                self._writer = None

    async def close(self) -> None:
        await self.engine.dispose()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own transaction handling begins a transaction only at the first write, so a
    # unit's reads would see no snapshot and hold no lock; SQLAlchemy's begin does it instead
    # (_sqlite_begin), as its SQLite documentation advises.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets readers (CLI, reports) run while ingest writes. synchronous=FULL makes every
    # acknowledged commit survive power loss as well as a crash; batching keeps its cost small.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    """Reads see one snapshot for the whole session; a write unit holds the write lock from its start."""
    immediate = connection.get_execution_options().get(_WRITE_UNIT, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
