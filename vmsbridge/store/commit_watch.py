"""Noticing events that another process committed to the same database.

The log followers (correlation, camera health, the rule engine) are woken by this process's
ingest after each batch it stores; events written by a second process (``vmsbridge events
import`` into the file of a running bridge, a second bridge on the same PostgreSQL database)
would otherwise wait for a follower's idle timer, tens of seconds. :class:`CommitWatch` wakes
them within a second:

- PostgreSQL: every batch of new events sends a notification on :data:`EVENTS_CHANNEL` in its own
  transaction (:func:`announce_events`), which the server delivers at commit; the watch LISTENs on a
  connection of its own and wakes the followers at once. Notifications this process sent itself
  are ignored (its ingest has woken them already).
- Both backends: the end of the event log is read every :data:`POLL_SECONDS` (an index lookup),
  and a change wakes the followers. On SQLite, which has no notifications, this is the way; on
  PostgreSQL it covers a listening connection that is down and writers that do not announce.

A wake-up that finds nothing new costs a follower one empty read; a missed one costs an event
its timeliness, never the event: the followers read from their own positions.
"""

from __future__ import annotations

__all__ = ["EVENTS_CHANNEL", "POLL_SECONDS", "CommitWatch", "announce_events"]

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from vmsbridge.backoff import Backoff
from vmsbridge.model.events import LogPosition
from vmsbridge.store.database import Database
from vmsbridge.store.tables import EventRow

log = logging.getLogger(__name__)

EVENTS_CHANNEL = "vmsbridge_events"
POLL_SECONDS = 0.5  # under the one second in which another process's events must be noticed


async def announce_events(session: AsyncSession, db: Database) -> None:
    """Within a transaction that stored new events: notify the listeners when it commits (PostgreSQL).

    The payload names the writing :class:`Database`, so its own watch can tell its echo apart.
    """
    if not db.is_sqlite:
        await session.execute(select(func.pg_notify(EVENTS_CHANNEL, db.writer_id)))


class CommitWatch:
    """Calls ``on_commit`` when events committed elsewhere appear; see the module docstring."""

    def __init__(
        self, db: Database, on_commit: Callable[[], None], *, poll_seconds: float = POLL_SECONDS
    ) -> None:
        self._db = db
        self._on_commit = on_commit
        self._poll_seconds = poll_seconds
        self._stopping = False
        self._lost = False  # the listening connection ended
        self._attention = asyncio.Event()  # set on stop and on a lost connection: cut the pause short
        self._engine: AsyncEngine | None = None
        self._connection: AsyncConnection | None = None
        self._listener: Any = None  # the driver's (asyncpg) connection under ``_connection``
        self.notified = 0  # wake-ups by another writer's notification (PostgreSQL)
        self.polled = 0  # wake-ups by the poll seeing the log's end move
        self.echoes = 0  # notifications of this process's own commits, ignored

    @property
    def listening(self) -> bool:
        return self._connection is not None

    @property
    def listening_backend(self) -> int | None:
        """The server process of the listening connection (PostgreSQL's pg_stat_activity.pid)."""
        return None if self._listener is None else int(self._listener.get_server_pid())

    def stop(self) -> None:
        self._stopping = True
        self._attention.set()

    async def run(self) -> None:
        """Watch until :meth:`stop`; a database that is away is retried with backoff."""
        polls, listens = Backoff(initial=0.5, maximum=30.0), Backoff(initial=0.5, maximum=30.0)
        loop = asyncio.get_running_loop()
        listen_at = loop.time()
        position: LogPosition | None = None
        try:
            while not self._stopping:
                if self._lost:
                    log.warning("the connection listening for other writers' events ended; polling meanwhile")
                    await self._unlisten()
                if not self._db.is_sqlite and not self.listening and loop.time() >= listen_at:
                    if await self._listen():
                        listens.reset()
                    else:
                        listen_at = loop.time() + listens.next()
                try:
                    end = await self._log_end()
                except (SQLAlchemyError, OSError) as exc:
                    delay = polls.next()
                    log.error("cannot read the event log's end, retrying in %.1f s: %s", delay, exc)
                    await self._pause(delay)
                    continue
                polls.reset()
                if position is not None and end != position:
                    self.polled += 1
                    self._on_commit()
                position = end
                await self._pause(self._poll_seconds)
        finally:
            await self._unlisten()
            if self._engine is not None:
                await self._engine.dispose()
                self._engine = None

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._attention.wait(), seconds)
        if not self._stopping:
            self._attention.clear()

    async def _log_end(self) -> LogPosition:
        async with self._db.sessions() as session:
            row = (await session.execute(select(func.max(EventRow.txid), func.max(EventRow.id)))).one()
        return int(row[0] or 0), int(row[1] or 0)

    async def _listen(self) -> bool:
        """LISTEN on a connection of the watch's own (not one of the pool's); False if that failed."""
        # A connection from a pool-less engine: closing it really closes it, and the bridge's
        # pool keeps all its connections for work.
        self._engine = self._engine or create_async_engine(self._db.url, poolclass=NullPool)
        connection: AsyncConnection | None = None
        try:
            connection = await self._engine.connect()
            listener: Any = (await connection.get_raw_connection()).driver_connection
            await listener.add_listener(EVENTS_CHANNEL, self._notification)
            listener.add_termination_listener(self._terminated)
        except Exception as exc:  # any driver error: poll instead, and say why
            log.warning("cannot listen for other writers' events (polling meanwhile): %s", exc)
            if connection is not None:
                with contextlib.suppress(Exception):
                    await connection.close()
            return False
        self._connection, self._listener, self._lost = connection, listener, False
        log.info("listening for events other processes commit (channel %s)", EVENTS_CHANNEL)
        return True

    def _notification(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        if payload == self._db.writer_id:
            self.echoes += 1  # this process's own commit: its ingest has woken the followers
            return
        self.notified += 1
        self._on_commit()

    def _terminated(self, _connection: Any) -> None:
        self._lost = True
        self._attention.set()

    async def _unlisten(self) -> None:
        connection, listener = self._connection, self._listener
        self._connection = self._listener = None
        self._lost = False
        if listener is not None:
            listener.remove_termination_listener(self._terminated)
        if connection is not None:
            with contextlib.suppress(Exception):  # a connection already gone has nothing to close
                await connection.close()
