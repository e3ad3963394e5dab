"""Log followers (correlator, rule engine, health monitor) are not held back by a transaction
left open in another database on the same PostgreSQL server."""

from __future__ import annotations

import asyncpg

from tests.conftest import PG_ADMIN_DSN
from vmsbridge.app import Stores
from vmsbridge.config import SiteDirectory
from vmsbridge.ingest import validate_payload
from vmsbridge.model.events import AcceptedEvent


async def test_an_open_transaction_elsewhere_does_not_stall_the_log(
    stores: Stores, directory: SiteDirectory, make_event: object
) -> None:
    start = await stores.events.log_position()
    elsewhere = None
    if stores.db.url.get_backend_name() == "postgresql":
        # Another database on the server (here the admin one) with a transaction that has an id
        # and stays open for the whole test, like a forgotten psql session.
        elsewhere = await asyncpg.connect(PG_ADMIN_DSN)
        await elsewhere.execute("BEGIN")
        await elsewhere.fetchval("SELECT pg_current_xact_id()")
    try:
        checked = validate_payload(make_event("phone.offhook", "bl-lotb"), directory)  # type: ignore[operator]
        assert isinstance(checked, AcceptedEvent)
        await stores.events.write_batch([checked], [])
        events, position = await stores.events.events_after(start)
        assert [e.kind.value for e in events] == ["phone.offhook"]
        assert position > start
    finally:
        if elsewhere is not None:
            await elsewhere.execute("ROLLBACK")
            await elsewhere.close()


async def test_events_held_back_by_an_older_open_transaction_are_reported_as_held_back(
    stores: Stores, directory: SiteDirectory, make_event: object
) -> None:
    """A transaction in this database that began writing before an event did holds the event back
    from followers (PostgreSQL). Its end wakes nobody, so ``held_back`` tells the followers to
    look again soon; once they have read the event, nothing is held back."""
    start = await stores.events.log_position()
    assert await stores.events.held_back(start) is False
    blocker = None
    if stores.db.url.get_backend_name() == "postgresql":
        dsn = stores.db.url.set(drivername="postgresql").render_as_string(hide_password=False)
        blocker = await asyncpg.connect(dsn)
        await blocker.execute("BEGIN")
        await blocker.fetchval("SELECT pg_current_xact_id()")  # an id older than the event's
    try:
        checked = validate_payload(make_event("phone.offhook", "bl-lotb"), directory)  # type: ignore[operator]
        assert isinstance(checked, AcceptedEvent)
        await stores.events.write_batch([checked], [])
        events, position = await stores.events.events_after(start)
        if blocker is not None:
            assert events == []  # not readable yet: an older transaction might still commit
            assert await stores.events.held_back(position) is True
            await blocker.execute("ROLLBACK")
            events, position = await stores.events.events_after(position)
        assert [e.kind.value for e in events] == ["phone.offhook"]
        assert await stores.events.held_back(position) is False
    finally:
        if blocker is not None:
            await blocker.close()
