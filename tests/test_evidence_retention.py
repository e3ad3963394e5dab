"""Retention sweeps, on SQLite and PostgreSQL: what expired goes, what is held or open stays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from evidence.custody import verify_chain
from evidence.store import ContentStore
from tests.conftest import ROOT
from vmsbridge.config import SiteConfig
from vmsbridge.evidence_service import add_file, dispose_expired
from vmsbridge.model import Priority
from vmsbridge.model.evidence import EvidenceItem
from vmsbridge.store.stores import Stores

SCENE = ROOT / "fixtures" / "video" / "scene.mp4"
PARTIAL = ROOT / "fixtures" / "video" / "scene_truncated.mp4"
T0 = datetime(2026, 1, 10, tzinfo=UTC)


async def test_expired_items_of_closed_incidents_are_disposed_others_kept(
    stores: Stores, site: SiteConfig, tmp_path: Path
) -> None:
    store = ContentStore(tmp_path / "store")
    incidents = [
        await stores.incidents.open(
            location_id="quad", summary=name, priority=Priority.LOW, actor="op", at=T0
        )
        for name in ("closed", "held", "open")
    ]
    for incident in incidents:
        await add_file(stores, store, incident_id=incident.id, path=PARTIAL, actor="op", how="test", now=T0)
    closed, held, _ = incidents
    await add_file(stores, store, incident_id=closed.id, path=SCENE, actor="op", how="test", now=T0)
    for incident in (closed, held):
        await stores.incidents.close(incident.id, actor="op", reason="done", at=T0)
    await stores.incidents.set_flags(held.id, actor="counsel", legal_hold=True)

    keep = site.evidence.retention
    assert await dispose_expired(stores, site, store, actor="records", now=T0 + timedelta(days=10)) == []
    later = T0 + timedelta(days=max(keep.original_days, keep.derived_days) + 1)
    done = await dispose_expired(stores, site, store, actor="records", now=later)
    assert sorted(done) == sorted((closed.id, i.sha256) for i in await stores.evidence.items(closed.id))
    # The truncated clip's bytes are still needed by the held and the open incident.
    shared = (await stores.evidence.items(held.id))[0].sha256
    assert shared in store
    assert (await stores.evidence.items(closed.id))[0].disposed_at == later
    chain = await stores.evidence.chain(closed.id)
    assert [e.action for e in chain][-2:] == ["disposed", "disposed"]
    assert verify_chain(chain) == []


async def test_a_sweep_reads_the_database_a_fixed_number_of_times_plus_each_disposal(
    stores: Stores, site: SiteConfig, tmp_path: Path
) -> None:
    store = ContentStore(tmp_path / "store")
    files = tmp_path / "files"
    files.mkdir()

    def file(name: str) -> Path:
        path = files / f"{name}.txt"
        path.write_text(f"content of {name}\n", encoding="utf-8")
        return path

    closed = [
        await stores.incidents.open(
            location_id="quad", summary=f"c{n}", priority=Priority.LOW, actor="op", at=T0
        )
        for n in range(10)
    ]
    still_open = await stores.incidents.open(
        location_id="quad", summary="open", priority=Priority.LOW, actor="op", at=T0
    )
    for n, incident in enumerate(closed):
        for k in range(4):
            await add_file(
                stores, store, incident_id=incident.id, path=file(f"{n}-{k}"), actor="op", how="t", now=T0
            )
        # Shared by two closed incidents (the bytes go with the second), and by the open one (they stay).
        shared = file("two-closed" if n < 2 else "kept-by-open" if n == 2 else f"{n}-4")
        await add_file(stores, store, incident_id=incident.id, path=shared, actor="op", how="t", now=T0)
        await stores.incidents.close(incident.id, actor="op", reason="done", at=T0)
    kept = await add_file(
        stores, store, incident_id=still_open.id, path=file("kept-by-open"), actor="op", how="t", now=T0
    )
    two_closed = (await stores.evidence.items(closed[0].id))[-1].sha256

    statements: list[str] = []

    def note(_c: object, _cur: object, statement: str, *_: object) -> None:
        statements.append(statement.lstrip().split(None, 1)[0].upper())

    sync_engine = stores.db.engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", note)
    later = T0 + timedelta(
        days=max(site.evidence.retention.original_days, site.evidence.retention.derived_days) + 1
    )
    try:
        done = await dispose_expired(stores, site, store, actor="records", now=later)
    finally:
        event.remove(sync_engine, "before_cursor_execute", note)

    assert len(done) == 50
    # Per disposal: the chain is read and the item row locked (two SELECTs); the sweep itself: two.
    assert statements.count("SELECT") <= 2 + 2 * len(done), statements
    assert two_closed not in store
    assert kept[0].sha256 in store
    details = [e.details for e in await stores.evidence.chain(closed[0].id) if e.action == "disposed"]
    assert {"file_name": "two-closed.txt", "bytes_removed": False} in details


async def _expired_closed_item(
    stores: Stores, store: ContentStore, site: SiteConfig
) -> tuple[int, str, datetime]:
    incident = await stores.incidents.open(
        location_id="quad", summary="closed", priority=Priority.LOW, actor="op", at=T0
    )
    item, _ = await add_file(
        stores, store, incident_id=incident.id, path=PARTIAL, actor="op", how="t", now=T0
    )
    await stores.incidents.close(incident.id, actor="op", reason="done", at=T0)
    keep = site.evidence.retention
    return incident.id, item.sha256, T0 + timedelta(days=max(keep.original_days, keep.derived_days) + 1)


async def test_a_legal_hold_placed_while_the_sweep_runs_wins(
    stores: Stores, site: SiteConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ContentStore(tmp_path / "store")
    incident_id, sha256, later = await _expired_closed_item(stores, store, site)
    select_expired = stores.evidence.expired_items

    async def then_counsel_holds(*args: Any, **kwargs: Any) -> list[EvidenceItem]:
        selected = await select_expired(*args, **kwargs)
        # Between the sweep's selection and its disposal, counsel puts the incident on hold.
        await stores.incidents.set_flags(incident_id, actor="counsel", legal_hold=True)
        return selected

    monkeypatch.setattr(stores.evidence, "expired_items", then_counsel_holds)
    assert await dispose_expired(stores, site, store, actor="records", now=later) == []
    assert sha256 in store
    [item] = await stores.evidence.items(incident_id)
    assert item.disposed_at is None
    assert "disposed" not in [e.action for e in await stores.evidence.chain(incident_id)]


async def test_bytes_are_removed_only_after_the_disposal_is_in_the_custody_chain(
    stores: Stores, site: SiteConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ContentStore(tmp_path / "store")
    incident_id, sha256, later = await _expired_closed_item(stores, store, site)

    async def database_fails(*args: Any, **kwargs: Any) -> None:
        raise OSError("database gone")

    monkeypatch.setattr(stores.evidence, "mark_disposed", database_fails)
    with pytest.raises(OSError, match="database gone"):
        await dispose_expired(stores, site, store, actor="records", now=later)
    assert sha256 in store, "the bytes went although no custody entry says so"

    monkeypatch.undo()
    assert await dispose_expired(stores, site, store, actor="records", now=later) == [(incident_id, sha256)]
    assert sha256 not in store
    assert [e.action for e in await stores.evidence.chain(incident_id)][-1] == "disposed"
