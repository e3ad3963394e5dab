"""A stop that cuts a firing short still puts every action's outcome on the incident: the one that
had finished, and the one interrupted (which the next run may resume)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.rules.conftest import SITE
from tests.waiting import awaited
from vmsbridge.config import parse_site_config
from vmsbridge.model import Event, EventKind
from vmsbridge.model.rules import INTERRUPTED
from vmsbridge.rules.engine import RuleEngine
from vmsbridge.runtime import BridgeOptions, build_bridge
from vmsbridge.store.incidents import IncidentStore
from vmsbridge.store.stores import open_store

# The rules test campus without devices, and its phone (no camera, no preset) on its own.
CAMPUS = (
    SITE.split("[[connectors.onvif]]")[0]
    + '\n[[phones]]\nid = "bl-9"\nname = "Blue light 9"\nlocation = "lot-b"\n'
)


@pytest.fixture
async def hanging_webhook() -> AsyncIterator[tuple[str, asyncio.Event]]:
    """A webhook receiver that never answers; the event is set once a request has arrived."""
    arrived = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        arrived.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    app = web.Application()
    app.router.add_post("/hook", hang)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/hook", arrived
    finally:
        await runner.cleanup()


async def test_a_stop_while_the_incident_is_being_found_loses_no_outcome(
    db_url: str,
    tmp_path: Path,
    hanging_webhook: tuple[str, asyncio.Event],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, arrived = hanging_webhook
    rules = f"""[[rules.custom]]
name = "pickup"
on = ["phone.offhook"]
actions = [
  {{ type = "notify_operator" }},
  {{ type = "notify_operator", channel = "webhook", url = "{url}" }},
  {{ type = "open_incident", priority = "high" }},
]
"""
    storage = f"\n[storage]\ndata_dir = '{tmp_path / 'data'}'\n"
    site = parse_site_config(CAMPUS + storage + "\n[rules]\n" + rules, "campus")
    # The incident is found only once the stop has begun: the logged notice is done by then and
    # waits for it, the webhook is still waiting for its answer.
    claiming, release = asyncio.Event(), asyncio.Event()
    claim = IncidentStore.claim_for_rule

    async def slow_claim(self: IncidentStore, *args: Any, **kwargs: Any) -> int:
        claiming.set()
        await release.wait()
        return await claim(self, *args, **kwargs)

    cancel = RuleEngine.cancel_firings

    async def cancel_then_release(self: RuleEngine) -> None:
        asyncio.get_running_loop().call_soon(release.set)
        await cancel(self)

    monkeypatch.setattr(IncidentStore, "claim_for_rule", slow_claim)
    monkeypatch.setattr(RuleEngine, "cancel_firings", cancel_then_release)
    options = BridgeOptions(db_url=db_url, work_dir=tmp_path / "work", clip_workers=1, rules_drain_seconds=0)
    async with build_bridge(site, options) as bridge:
        now = datetime.now(UTC)
        pickup = Event(
            source="test",
            native_id="call-1",
            kind=EventKind.PHONE_OFFHOOK,
            device_id="bl-9",
            occurred_at=now,
            received_at=now,
        )
        assert (await bridge.bus.publish(pickup)).status == "stored"
        await awaited(claiming.wait(), "the incident to be claimed for the rule")
        await awaited(arrived.wait(), "the webhook call to arrive (it waits for its answer)")
    async with open_store(db_url) as stores:
        [incident] = await stores.incidents.search()
        recorded = await stores.rule_actions.for_incident(incident.id)
    assert sorted((o.action, o.ok, o.detail) for o in recorded) == [
        ("notify_operator", False, INTERRUPTED),
        ("notify_operator", True, "logged: Emergency phone picked up at Parking Lot B (Blue light 9)"),
        ("open_incident", True, f"incident {incident.id} (joined the incident correlation opened; high)"),
    ]
