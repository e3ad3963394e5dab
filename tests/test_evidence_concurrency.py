"""Several writers extending one incident's custody chain at once (rules attach clips while
investigators log views): every entry lands, in one unforked, verifiable chain."""

from __future__ import annotations

import asyncio
from pathlib import Path

from evidence.custody import verify_chain
from evidence.store import ContentStore
from vmsbridge.evidence_service import add_file, dispose, log_access
from vmsbridge.model import Priority
from vmsbridge.store.stores import Stores


async def test_concurrent_attachments_and_views_share_one_chain(stores: Stores, tmp_path: Path) -> None:
    store = ContentStore(tmp_path / "evidence")
    incident = await stores.incidents.open(
        location_id="lot-b", summary="t", priority=Priority.HIGH, actor="op"
    )
    files = []
    for n in range(6):
        path = tmp_path / f"clip-{n}.bin"
        path.write_bytes(f"clip {n}".encode() * 1000)
        files.append(path)
    files.append(files[0])  # the same clip attached twice at the same moment counts once
    added = await asyncio.gather(
        *(add_file(stores, store, incident_id=incident.id, path=p, actor="rule", how="test") for p in files)
    )
    assert sum(1 for _, new in added if new) == 6
    views = await asyncio.gather(
        *(
            log_access(stores, incident_id=incident.id, action="viewed", actor=f"inv{n}", purpose="review")
            for n in range(4)
        )
    )
    chain = await stores.evidence.chain(incident.id)
    assert [e.seq for e in chain] == list(range(1, len(chain) + 1))
    assert [e.action for e in chain].count("acquired") == 6
    assert {e.actor for e in chain if e.action == "viewed"} == {v.actor for v in views}
    assert verify_chain(chain) == []

    # Disposals racing with views: each gets its own place in the chain too.
    await stores.incidents.close(incident.id, actor="op", reason="done")
    originals = [item for item, new in added if new][:3]
    await asyncio.gather(
        *(
            dispose(
                stores, store, incident_id=incident.id, sha256=i.sha256, actor="clerk", reason="retention"
            )
            for i in originals
        ),
        *(
            log_access(stores, incident_id=incident.id, action="viewed", actor="auditor", purpose="audit")
            for _ in range(2)
        ),
    )
    chain = await stores.evidence.chain(incident.id)
    assert [e.action for e in chain].count("disposed") == 3
    assert verify_chain(chain) == []
    assert sum(1 for i in await stores.evidence.items(incident.id) if i.disposed_at is not None) == 3
