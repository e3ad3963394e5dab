"""Schema and store behaviour, on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import delete, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError

from vmsbridge.errors import DatabaseNotReady, NotFound, VmsBridgeError
from vmsbridge.model import IncidentStatus, Priority
from vmsbridge.store.database import Database, resolve_db_url
from vmsbridge.store.migrate import current_revision, head_revision, upgrade
from vmsbridge.store.stores import Stores, open_store
from vmsbridge.store.tables import AuditRow, Base


async def test_upgrade_from_empty_reaches_head_and_matches_the_models(db_url: str) -> None:
    async with Database(db_url) as db:
        assert await current_revision(db) is None
        assert await upgrade(db) == head_revision()
        assert await upgrade(db) == head_revision()  # repeating is harmless

        def diff(connection: Connection) -> list[object]:
            return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))

        async with db.engine.connect() as conn:
            assert await conn.run_sync(diff) == []


async def test_store_refuses_an_unmigrated_database(db_url: str) -> None:
    with pytest.raises(DatabaseNotReady) as info:
        async with open_store(db_url):
            pass
    assert info.value.state == "has no vmsbridge schema"
    assert str(info.value) == f"database {info.value.url} has no vmsbridge schema"


async def test_audit_log_is_append_only_in_the_database(stores: Stores) -> None:
    incident = await stores.incidents.open(
        location_id="quad", summary="x", priority=Priority.LOW, actor="alice"
    )
    [entry] = await stores.audit.entries("incident", incident.id)
    assert (entry.actor, entry.action) == ("alice", "incident.opened")
    for statement in (update(AuditRow).values(actor="mallory"), delete(AuditRow)):
        with pytest.raises(DBAPIError, match="append-only"):
            async with stores.db.transaction() as session:
                await session.execute(statement)
    [again] = await stores.audit.entries("incident", incident.id)
    assert again.actor == "alice"


async def test_times_come_back_timezone_aware_utc(stores: Stores) -> None:
    when = datetime(2026, 3, 8, 8, 30, tzinfo=UTC)  # a US DST change day
    incident = await stores.incidents.open(
        location_id="lot-b", summary="call", priority=Priority.HIGH, actor="bob", at=when
    )
    fetched = await stores.incidents.get(incident.id)
    assert fetched.started_at == when
    assert fetched.started_at.tzinfo is not None


async def test_close_by_command_is_audited_and_not_repeatable(stores: Stores) -> None:
    incident = await stores.incidents.open(
        location_id="quad", summary="x", priority=Priority.LOW, actor="alice"
    )
    closed = await stores.incidents.close(incident.id, actor="bob", reason="false alarm")
    assert closed.status is IncidentStatus.CLOSED
    assert closed.close_reason == "false alarm"
    with pytest.raises(VmsBridgeError, match="already closed"):
        await stores.incidents.close(incident.id, actor="bob", reason="again")
    with pytest.raises(NotFound):
        await stores.incidents.close(9999, actor="bob", reason="none")
    actions = [(e.actor, e.action) for e in await stores.audit.entries("incident", incident.id)]
    assert actions == [("alice", "incident.opened"), ("bob", "incident.closed")]


async def test_sqlite_runs_in_wal_mode(tmp_path: object) -> None:
    async with Database(f"sqlite+aiosqlite:///{tmp_path}/wal.db") as db, db.engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"


async def test_a_sqlite_write_transaction_keeps_other_processes_out_from_its_first_read(
    tmp_path: Path,
) -> None:
    """A unit that reads, then writes (the correlator's cursor, an incident being closed) must not
    let another process write in between: ``vmsbridge events import`` beside a running bridge had
    both correlators read the same cursor and correlate the same events twice. A read-only
    session takes no lock (readers never hold up the writers)."""
    path = tmp_path / "two-processes.db"
    async with Database(f"sqlite+aiosqlite:///{path}") as db:
        async with db.transaction() as session:
            await session.execute(text("CREATE TABLE cursor (position INTEGER)"))
        other_process = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            async with db.transaction() as session:
                await session.execute(text("SELECT count(*) FROM cursor"))
                with pytest.raises(sqlite3.OperationalError, match="locked"):
                    other_process.execute("BEGIN IMMEDIATE")
            async with db.sessions() as session:
                await session.execute(text("SELECT count(*) FROM cursor"))
                other_process.execute("BEGIN IMMEDIATE")
                other_process.execute("ROLLBACK")
        finally:
            other_process.close()


def test_db_url_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.setenv("VMSBRIDGE_DB", "postgresql://env@h/db")
    assert resolve_db_url("sqlite:////x.db", "postgresql://cfg@h/db") == "sqlite+aiosqlite:////x.db"
    assert resolve_db_url(None, "postgresql://cfg@h/db") == "postgresql+asyncpg://env@h/db"
    monkeypatch.delenv("VMSBRIDGE_DB")
    assert resolve_db_url(None, "postgresql://cfg@h/db") == "postgresql+asyncpg://cfg@h/db"
    monkeypatch.setenv("VMSBRIDGE_DATA", str(tmp_path))
    assert resolve_db_url(None, None) == f"sqlite+aiosqlite:///{tmp_path}/vmsbridge.db"


def test_unsupported_db_url_is_a_config_error() -> None:
    from vmsbridge.errors import ConfigError

    with pytest.raises(ConfigError, match="mysql"):
        resolve_db_url("mysql://root@localhost/x")


async def test_the_custody_chain_is_append_only_in_the_database(stores: Stores) -> None:
    from evidence.custody import append
    from vmsbridge.store.tables import CustodyEntryRow

    incident = await stores.incidents.open(
        location_id="quad", summary="x", priority=Priority.LOW, actor="alice"
    )
    entry = append(
        [], at=datetime(2026, 11, 20, tzinfo=UTC), actor="alice", action="viewed", item=None, purpose="review"
    )
    await stores.evidence.record(incident.id, entry)
    assert await stores.evidence.chain(incident.id) == [entry]
    for statement in (update(CustodyEntryRow).values(actor="mallory"), delete(CustodyEntryRow)):
        with pytest.raises(DBAPIError, match="append-only"):
            async with stores.db.transaction() as session:
                await session.execute(statement)
    with pytest.raises(IntegrityError):  # a second entry 1 would fork the chain
        await stores.evidence.record(incident.id, entry)


async def test_evidence_items_keep_what_was_recorded_at_acquisition(stores: Stores) -> None:
    from evidence.custody import append
    from vmsbridge.model.evidence import EvidenceItem
    from vmsbridge.store.tables import EvidenceItemRow

    incident = await stores.incidents.open(
        location_id="quad", summary="x", priority=Priority.LOW, actor="alice"
    )
    at = datetime(2026, 11, 20, tzinfo=UTC)
    item = EvidenceItem(
        incident_id=incident.id,
        sha256="a" * 64,
        sha512="b" * 128,
        size=10,
        media_type="video/mp4",
        role="original",
        derived_from=None,
        file_name="clip.mp4",
        camera_id="cam-1",
        how="export",
        acquired_at=at,
        acquired_by="alice",
    )
    acquired = append([], at=at, actor="alice", action="acquired", item=item.sha256, purpose="p")
    await stores.evidence.record(incident.id, acquired, item)
    for change in (
        {"sha256": "c" * 64},
        {"sha512": "d" * 128},
        {"size": 11},
        {"file_name": "other.mp4"},
        {"acquired_by": "mallory"},
        {"acquired_at": datetime(2026, 11, 21, tzinfo=UTC)},
        {"camera_id": None},
    ):
        with pytest.raises(DBAPIError, match="recorded at acquisition"):
            async with stores.db.transaction() as session:
                await session.execute(update(EvidenceItemRow).values(**change))
    with pytest.raises(DBAPIError, match="recorded at acquisition"):
        async with stores.db.transaction() as session:
            await session.execute(delete(EvidenceItemRow))
    disposed = append([acquired], at=at, actor="records", action="disposed", item=item.sha256, purpose="p")
    await stores.incidents.close(incident.id, actor="op", reason="done", at=at)  # open: kept
    await stores.evidence.mark_disposed(incident.id, item.sha256, disposed)  # set once: allowed
    with pytest.raises(DBAPIError, match="recorded at acquisition"):
        async with stores.db.transaction() as session:
            await session.execute(update(EvidenceItemRow).values(disposed_at=None))
    [kept] = await stores.evidence.items(incident.id)
    assert kept == dataclasses.replace(item, disposed_at=at)


async def test_evidence_audits_are_append_only(stores: Stores) -> None:
    from vmsbridge.model.evidence import EvidenceAudit
    from vmsbridge.store.tables import EvidenceAuditRow

    at = datetime(2026, 11, 20, tzinfo=UTC)
    audit = EvidenceAudit(
        kind="audit",
        incident_id=None,
        node="node-1",
        actor="audit",
        started_at=at,
        finished_at=at,
        items_checked=0,
        blobs_checked=0,
        bytes_hashed=0,
        items=None,
        problems=[],
        temporaries_removed=[],
    )
    await stores.evidence.record_audit(audit)
    for statement in (
        update(EvidenceAuditRow).values(problems=[{"kind": "forged"}]),
        delete(EvidenceAuditRow),
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with stores.db.transaction() as session:
                await session.execute(statement)
    assert await stores.evidence.last_audit(incident_id=None) == audit


# Rows of these tables are only ever added; the changed column shows whether a row was rewritten.
APPEND_ONLY = {
    "audit_log": "actor",
    "custody_entries": "actor",
    "evidence_items": "acquired_by",
    "evidence_audits": "actor",
}
# Besides the primary key, the unique key a replacing insert can take a row's place by.
UNIQUE_KEYS = {"custody_entries": ("incident_id", "seq"), "evidence_items": ("incident_id", "sha256")}


async def _one_row_in_each_append_only_table(stores: Stores) -> None:
    from evidence.custody import append
    from vmsbridge.model.evidence import EvidenceAudit, EvidenceItem

    incident = await stores.incidents.open(
        location_id="quad", summary="x", priority=Priority.LOW, actor="alice"
    )  # an audit_log row
    at = datetime(2026, 11, 20, tzinfo=UTC)
    item = EvidenceItem(
        incident.id,
        "a" * 64,
        "b" * 128,
        10,
        "video/mp4",
        "original",
        None,
        "clip.mp4",
        None,
        "t",
        at,
        "alice",
    )
    acquired = append([], at=at, actor="alice", action="acquired", item=item.sha256, purpose="p")
    await stores.evidence.record(incident.id, acquired, item)
    await stores.evidence.record_audit(
        EvidenceAudit("audit", None, "node-1", "alice", at, at, 0, 0, 0, None, [], [])
    )


def _rewrites(table: str, columns: list[str], dialect: str) -> list[str]:
    """Statements that put a changed copy of the table's row in its place, as each backend allows."""
    changed = APPEND_ONLY[table]
    values = ", ".join("'mallory'" if c == changed else c for c in columns)
    if dialect == "sqlite":
        others = [c for c in columns if c != "id"]
        without_id = ", ".join("'mallory'" if c == changed else c for c in others)
        statements = [f"INSERT OR REPLACE INTO {table} ({', '.join(columns)}) SELECT {values} FROM {table}"]
        statements.append(f"REPLACE INTO {table} ({', '.join(columns)}) SELECT {values} FROM {table}")
        if table in UNIQUE_KEYS:  # a new id, the same unique key
            statements.append(
                f"INSERT OR REPLACE INTO {table} ({', '.join(others)}) SELECT {without_id} FROM {table}"
            )
        return statements
    return [
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {values} FROM {table} "
        f"ON CONFLICT (id) DO UPDATE SET {changed} = EXCLUDED.{changed}"
    ]


async def test_no_insert_can_replace_a_row_of_an_append_only_table(stores: Stores) -> None:
    await _one_row_in_each_append_only_table(stores)
    for table, changed in APPEND_ONLY.items():
        columns = [c.name for c in Base.metadata.tables[table].columns]
        for statement in _rewrites(table, columns, stores.db.url.get_backend_name()):
            with pytest.raises(DBAPIError, match=r"append-only|recorded at acquisition"):
                async with stores.db.transaction() as session:
                    await session.execute(text(statement))
            async with stores.db.engine.connect() as conn:
                rows = (await conn.execute(text(f"SELECT id, {changed} FROM {table}"))).all()
            assert [tuple(row) for row in rows] == [(1, "alice")], statement


async def test_a_bare_sqlite_connection_cannot_replace_append_only_rows_either(tmp_path: Path) -> None:
    """The triggers refuse what SQLite's REPLACE does, whatever the connection's settings."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'bare.db'}"
    async with open_store(url, migrate=True) as stores:
        await _one_row_in_each_append_only_table(stores)
    with contextlib.closing(sqlite3.connect(tmp_path / "bare.db", isolation_level=None)) as db:
        assert db.execute("PRAGMA recursive_triggers").fetchone() == (0,)  # REPLACE fires no delete trigger
        for table, changed in APPEND_ONLY.items():
            columns = [c.name for c in Base.metadata.tables[table].columns]
            for statement in _rewrites(table, columns, "sqlite"):
                with pytest.raises(sqlite3.IntegrityError, match=r"append-only|recorded at acquisition"):
                    db.execute(statement)
            assert db.execute(f"SELECT id, {changed} FROM {table}").fetchall() == [(1, "alice")]
