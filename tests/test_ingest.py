"""Durable, idempotent ingest through the bus, and what happens to bad input."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from sqlalchemy.exc import DataError

from tests.conftest import EventFactory
from vmsbridge.bus import BusClosed, InProcessBus
from vmsbridge.config import SiteDirectory
from vmsbridge.ingest import IngestStage
from vmsbridge.model import Event, EventKind, IngestOutcome
from vmsbridge.model.events import AcceptedEvent, EventKey, RejectedInput
from vmsbridge.store.stores import Stores


@pytest.fixture
async def pipeline(
    stores: Stores, directory: SiteDirectory
) -> AsyncIterator[tuple[InProcessBus, IngestStage]]:
    bus = InProcessBus(capacity=100)
    stage = IngestStage(bus, stores.events, directory, batch_size=50)
    task = asyncio.create_task(stage.run())
    yield bus, stage
    bus.close()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def publish_all(bus: InProcessBus, payloads: Sequence[Any]) -> list[str]:
    futures = [await bus.submit(p) for p in payloads]
    return [(await asyncio.wait_for(f, 10)).status for f in futures]


async def test_events_are_stored_once_however_often_they_are_sent(
    stores: Stores, pipeline: tuple[InProcessBus, IngestStage], make_event: EventFactory
) -> None:
    bus, stage = pipeline
    payloads = [make_event(minutes=i) for i in range(120)]
    assert await publish_all(bus, payloads) == ["stored"] * 120
    # a reconnect replays everything, and within one batch the same event arrives twice
    statuses = await publish_all(bus, payloads + payloads[:5])
    assert statuses == ["duplicate"] * 125
    assert await stores.events.count() == 120
    assert (stage.stats.stored, stage.stats.duplicates) == (120, 125)


async def test_a_duplicate_reports_the_id_of_the_stored_event(
    pipeline: tuple[InProcessBus, IngestStage], make_event: EventFactory
) -> None:
    bus, _ = pipeline
    payload = make_event()
    first = await bus.publish(payload)
    again = await bus.publish(dict(payload, attributes={"changed": True}))
    assert first.status == "stored"
    assert again.status == "duplicate"
    assert again.event_id == first.event_id


async def test_bad_input_is_rejected_counted_and_kept_while_good_events_land(
    stores: Stores,
    pipeline: tuple[InProcessBus, IngestStage],
    make_event: EventFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus, stage = pipeline
    missing = make_event()
    del missing["native_id"]
    naive = make_event(occurred_at="2026-11-20T22:00:00")
    unknown_device = make_event(device_id="bl-nowhere")
    unknown_kind = make_event(kind="phone.exploded")
    future = make_event(occurred_at="2031-01-01T00:00:00+00:00")
    not_a_mapping = "<soap:Envelope>garbage"
    good = [make_event(minutes=i) for i in range(3)]
    batch = [good[0], missing, naive, good[1], unknown_device, unknown_kind, future, not_a_mapping, good[2]]
    with caplog.at_level(logging.WARNING, logger="vmsbridge.ingest"):
        statuses = await publish_all(bus, batch)
    assert statuses == ["stored", *["rejected"] * 2, "stored", *["rejected"] * 4, "stored"]
    assert await stores.events.count() == 3
    assert stage.stats.rejected == 6

    kept = await stores.events.rejected(10)
    reasons = [r.reason for r in kept]
    assert reasons[0] == "native_id: Field required"
    assert "timezone" in reasons[1]
    assert reasons[2] == "device_id: 'bl-nowhere' is not a device in the site configuration"
    assert reasons[3].startswith("kind: Input should be")
    assert "device clock is wrong" in reasons[4]
    assert reasons[5] == "payload is a str, not an event object"
    assert kept[5].payload == '"<soap:Envelope>garbage"'
    assert '"bl-nowhere"' in kept[2].payload  # the raw input is kept for inspection
    assert sum("rejected input" in r.message for r in caplog.records) == 6


async def test_times_out_of_range_in_utc_are_rejected_with_the_reason_and_ingest_goes_on(
    stores: Stores, pipeline: tuple[InProcessBus, IngestStage], make_event: EventFactory
) -> None:
    bus, stage = pipeline
    batch = [
        make_event(minutes=1),
        make_event(occurred_at="9999-12-31T23:00:00-14:00"),
        make_event(received_at="0001-01-01T00:00:00+14:00"),
        make_event(minutes=2),
    ]
    assert await publish_all(bus, batch) == ["stored", "rejected", "rejected", "stored"]
    reasons = [r.reason for r in await stores.events.rejected(10)]
    assert reasons == [
        "occurred_at: 9999-12-31T23:00:00-14:00 is out of range once converted to UTC",
        "received_at: 0001-01-01T00:00:00+14:00 is out of range once converted to UTC",
    ]
    assert await publish_all(bus, [make_event(minutes=3)]) == ["stored"]
    assert stage.stats.rejected == 2


async def test_connectors_may_hand_over_validated_events(
    stores: Stores, pipeline: tuple[InProcessBus, IngestStage], make_event: EventFactory
) -> None:
    bus, _ = pipeline
    event = Event.model_validate(make_event(kind="phone.offhook", device_id="bl-quad"))
    outcome = await bus.publish(event)
    assert outcome.status == "stored"
    [stored] = await stores.events.recent(1)
    assert (stored.kind, stored.location_id) == (EventKind.PHONE_OFFHOOK, "quad")
    assert stored.occurred_at == event.occurred_at


async def test_a_store_refusing_one_event_does_not_sink_its_batch(
    stores: Stores, directory: SiteDirectory, make_event: EventFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What PostgreSQL once did with NUL: refuse one row, which would fail the whole transaction.
    write_batch = stores.events.write_batch

    async def refusing(
        accepted: Sequence[AcceptedEvent], rejected: Sequence[RejectedInput]
    ) -> tuple[dict[EventKey, int], dict[EventKey, int]]:
        if any(a.event.attributes.get("poison") for a in accepted):
            raise DataError("INSERT", {}, ValueError("the database refused this value"))
        return await write_batch(accepted, rejected)

    monkeypatch.setattr(stores.events, "write_batch", refusing)
    bus = InProcessBus()
    stage = IngestStage(bus, stores.events, directory)
    payloads = [make_event(minutes=i) for i in range(7)]
    payloads[3]["attributes"] = {"poison": True}
    futures = [await bus.submit(p) for p in payloads]
    await stage.process(await bus.fetch(100))
    statuses = [f.result().status for f in futures]
    assert statuses == ["stored"] * 3 + ["rejected"] + ["stored"] * 3
    assert "store refused the event" in (futures[3].result().reason or "")
    assert await stores.events.count() == 6
    assert await stores.events.count_rejected() == 1


async def test_a_full_bus_makes_publishers_wait() -> None:
    bus = InProcessBus(capacity=2)
    await bus.submit({"n": 1})
    await bus.submit({"n": 2})
    blocked = asyncio.create_task(bus.submit({"n": 3}))
    for _ in range(20):
        await asyncio.sleep(0)  # let the task run as far as it can
    assert not blocked.done(), "a third payload must wait for room"
    assert bus.full_waits == 1
    first = await bus.fetch(1)
    assert [d.payload for d in first] == [{"n": 1}]
    await asyncio.wait_for(blocked, 5)
    assert bus.depth == 2


async def test_closing_the_bus_fails_what_was_never_stored() -> None:
    bus = InProcessBus()
    pending = await bus.submit({"n": 1})
    bus.close()
    with pytest.raises(BusClosed):
        await pending
    with pytest.raises(BusClosed):
        await bus.submit({"n": 2})


async def test_a_payload_whose_publisher_was_stopped_is_still_waited_for_by_drain() -> None:
    """A source stopped at shutdown cancels its wait for durability; the payload is still queued
    for ingest, and the stop must give it its time to be stored rather than fail it unstored."""
    bus = InProcessBus()
    waiting = await bus.submit({"n": 1})
    waiting.cancel()  # the source's task is cancelled while it awaits the outcome
    assert await bus.drain(0) is False, "a queued payload is not settled because its publisher left"
    [delivery] = await bus.fetch(1)
    delivery.settle(IngestOutcome("stored", event_id=1))
    assert await bus.drain(60) is True


async def test_input_with_nul_characters_is_rejected_and_kept_and_ingest_goes_on(
    stores: Stores, pipeline: tuple[InProcessBus, IngestStage], make_event: EventFactory
) -> None:
    bus, stage = pipeline
    hostile = {"source": "x\u0000y", "kind": "bogus", "native_id": "n\u0000"}
    statuses = await publish_all(bus, [hostile, make_event(), {**make_event(), "native_id": "a\u0000b"}])
    assert statuses[0] == "rejected"
    assert statuses[1] == "stored"
    assert statuses[2] == "stored", "a NUL in an otherwise valid event is escaped on both backends"
    kept = await stores.events.rejected(5)
    assert kept[0].source == "x\\u0000y"
    assert "\x00" not in kept[0].payload
    assert stage.stats.rejections_not_kept == 0
    assert (await bus.publish(make_event(minutes=9))).status == "stored"  # the stage is still alive
