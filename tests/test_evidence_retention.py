"""Retention sweeps, on SQLite and PostgreSQL: what expired goes, what is held or open stays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from evidence.custody import verify_chain
from tests.conftest import ROOT
from vmsbridge.config import SiteConfig
from vmsbridge.evidence_service import add_file, dispose_expired
from vmsbridge.model import Priority
from vmsbridge.store.stores import Stores

SCENE = ROOT / "fixtures" / "video" / "scene.mp4"
PARTIAL = ROOT / "fixtures" / "video" / "scene_truncated.mp4"
T0 = datetime(2026, 1, 10, tzinfo=UTC)


async def test_expired_items_of_closed_incidents_are_disposed_others_kept(
    stores: Stores, site: SiteConfig, tmp_path: Path
) -> None:
    from evidence.store import ContentStore

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
