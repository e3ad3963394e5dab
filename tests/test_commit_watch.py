"""The commit watch: events another writer commits wake this process's log followers."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import asyncpg
import pytest

from tests.conftest import _create_pg_database, _drop_pg_database
from vmsbridge.model import Event, EventKind
from vmsbridge.model.events import AcceptedEvent
from vmsbridge.store.commit_watch import CommitWatch
from vmsbridge.store.stores import Stores, open_store

WAIT = 60.0
NEVER = 3600.0  # a poll period no test waits out: only a notification can wake the watch
_ids = itertools.count()


def accepted() -> AcceptedEvent:
    now = datetime.now(UTC)
    event = Event(
        source="test:other-writer",
        native_id=f"w-{next(_ids)}",
        kind=EventKind.MOTION_START,
        device_id="cam-lotb-ptz",
        occurred_at=now,
        received_at=now,
    )
    return AcceptedEvent(event, "lot-b")


class Woken:
    """Counts the watch's wake-ups and lets a test await the next one."""

    def __init__(self) -> None:
        self.count = 0
        self._event = asyncio.Event()

    def __call__(self) -> None:
        self.count += 1
        self._event.set()

    async def next(self, what: str) -> None:
        try:
            await asyncio.wait_for(self._event.wait(), WAIT)
        except TimeoutError:
            raise AssertionError(f"gave up after {WAIT:.0f} s waiting for {what}") from None
        self._event.clear()


@asynccontextmanager
async def watching(stores: Stores, woken: Woken, poll_seconds: float) -> AsyncIterator[CommitWatch]:
    watch = CommitWatch(stores.db, woken, poll_seconds=poll_seconds)
    task = asyncio.create_task(watch.run())
    try:
        yield watch
    finally:
        watch.stop()
        await asyncio.wait_for(task, WAIT)


async def until(check: Callable[[], bool], what: str) -> None:
    """Await the watch's state (its own task changes it; nothing announces that); fails naming ``what``."""

    async def poll() -> None:
        while not check():  # noqa: ASYNC110 - no event to await
            await asyncio.sleep(0.01)

    try:
        await asyncio.wait_for(poll(), WAIT)
    except TimeoutError:
        raise AssertionError(f"gave up after {WAIT:.0f} s waiting for {what}") from None


async def until_listening(watch: CommitWatch) -> None:
    await until(lambda: watch.listening, "the watch to LISTEN")


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    url = await _create_pg_database()
    async with open_store(url, migrate=True):
        pass
    try:
        yield url
    finally:
        await _drop_pg_database(url)


async def test_events_another_writer_commits_wake_the_followers(stores: Stores, db_url: str) -> None:
    woken = Woken()
    async with watching(stores, woken, poll_seconds=0.05) as watch, open_store(db_url) as other:
        if not stores.db.is_sqlite:
            await until_listening(watch)
        await other.events.write_batch([accepted()], [])
        await woken.next("the watch to notice the other writer's event")
    assert watch.polled + watch.notified >= 1


@pytest.mark.postgres
async def test_postgresql_notifies_at_commit_and_ignores_its_own_echo(pg_url: str) -> None:
    woken = Woken()
    async with (
        open_store(pg_url) as stores,
        open_store(pg_url) as other,
        watching(stores, woken, poll_seconds=NEVER) as watch,
    ):
        await until_listening(watch)
        await stores.events.write_batch([accepted()], [])  # this process's own: its ingest wakes
        await other.events.write_batch([accepted()], [])
        await until(lambda: watch.echoes == 1, "the notification of this process's own commit")
        await woken.next("the other writer's notification")
        assert (watch.notified, watch.polled, woken.count) == (1, 0, 1), "one wake-up: the other's"


@pytest.mark.postgres
async def test_a_lost_listening_connection_is_listened_again(pg_url: str) -> None:
    woken = Woken()
    async with (
        open_store(pg_url) as stores,
        open_store(pg_url) as other,
        watching(stores, woken, poll_seconds=0.05) as watch,
    ):
        await until_listening(watch)
        lost = watch.listening_backend
        # The server ends the listening session (a restart, an administrator, a network cut).
        admin = await asyncpg.connect(pg_url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", lost)
        finally:
            await admin.close()
        await other.events.write_batch([accepted()], [])
        await woken.next("the watch to notice an event written as its listening session ended")
        await until(lambda: watch.listening_backend not in (None, lost), "the watch to LISTEN again")
        notified = watch.notified
        await other.events.write_batch([accepted()], [])
        await until(lambda: watch.notified > notified, "a notification on the new listening session")
