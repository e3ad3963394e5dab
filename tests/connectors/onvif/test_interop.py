"""Device behaviours seen in the field, each reproduced by a named emulator quirk (see the README's
ONVIF "interop" section): the connector must cope with every one of them."""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import time
from datetime import UTC, datetime, timedelta

import onvif.client as onvif_library
import pytest

from connectors.onvif import client as onvif_client
from connectors.onvif.client import OnvifClient
from connectors.onvif.config import onvif_connectors
from connectors.onvif.emulator import OnvifEmulator
from connectors.onvif.events import PullSettings
from connectors.onvif.source import OnvifEventSource
from tests.connectors.conftest import WAIT, eventually
from tests.connectors.onvif.conftest import FAST, SourceRunner
from vmsbridge.bus import EventPayload
from vmsbridge.config import SiteConfig, SiteDirectory
from vmsbridge.errors import StoreError
from vmsbridge.model import Event, EventKind, IngestOutcome

K = EventKind


async def test_data_items_named_as_other_devices_name_them_are_understood(
    emulator: OnvifEmulator, sources: SourceRunner
) -> None:
    north = emulator.device("onvif-north")
    north.quirks.alternate_data_items = True  # DigitalInput and cell motion carry "State"
    source, bus = await sources.start("onvif-north")
    [vsc] = list(source.map.by_video_source_config)
    north.set_input("DI1", True)
    north.cell_motion(vsc, True)
    await bus.wait_kind(K.PHONE_OFFHOOK)
    await bus.wait_kind(K.MOTION_START)
    assert bus.of_kind(K.ONVIF_UNKNOWN) == []
    assert not source.unknown_topics


async def test_an_unreadable_shape_is_counted_every_time_and_logged_once_with_its_data(
    emulator: OnvifEmulator, sources: SourceRunner, caplog: pytest.LogCaptureFixture
) -> None:
    north = emulator.device("onvif-north")
    topic = "tns1:Device/Trigger/DigitalInput"
    with caplog.at_level(logging.WARNING, logger="connectors.onvif.source"):
        source, bus = await sources.start("onvif-north")
        for level in ("17", "18", "19"):
            north.fire(topic, {"InputToken": "DI1"}, {"Level": level})
        await bus.wait_kind(K.ONVIF_UNKNOWN, count=3)
    assert source.unknown_topics[topic] == 3, "every unreadable message is counted"
    lines = [r.getMessage() for r in caplog.records if "not understood" in r.getMessage()]
    assert len(lines) == 1, f"one line per topic and shape, got {lines}"
    assert "'Level': '17'" in lines[0], "the line shows the data the message carried"
    assert "no parser" not in lines[0], "this topic has a parser; its data was not understood"
    assert "LogicalState" in lines[0], "the line says which data items were looked for"


async def test_polls_ask_whole_seconds_and_are_not_shortened_for_a_renewal(
    emulator: OnvifEmulator, sources: SourceRunner
) -> None:
    north = emulator.device("onvif-north")
    north.quirks.whole_second_timeouts = True  # a fractional Timeout is answered at once
    source, _ = await sources.start("onvif-north")  # 6 s subscriptions: renewed every 3 s
    await eventually(lambda: source.loop.stats.renewals >= 2, within=60)
    timeouts = list(north.pull_timeouts)
    assert timeouts, "PullMessages was called"
    assert all(re.fullmatch(r"PT[1-9]\d*S", t) for t in timeouts), f"whole seconds >= 1: {timeouts}"
    assert source.loop.stats.early_empty_replies == 0


async def test_a_device_answering_every_poll_at_once_is_polled_at_most_once_a_second(
    emulator: OnvifEmulator, sources: SourceRunner
) -> None:
    north = emulator.device("onvif-north")
    north.quirks.pull_answers_at_once = True
    source, bus = await sources.start("onvif-north")
    polls = north.counters.get("PullMessages", 0)
    began = time.monotonic()
    await eventually(lambda: north.counters.get("PullMessages", 0) >= polls + 4, within=60)
    elapsed = time.monotonic() - began
    # Four polls at no more than one a second take at least three seconds (less a scheduling hair).
    assert elapsed >= 2.9, f"4 polls in {elapsed:.2f} s: the device was polled in a busy loop"
    assert source.loop.stats.early_empty_replies >= 3
    north.set_input("DI1", True)  # events still arrive
    await bus.wait_kind(K.PHONE_OFFHOOK)


async def test_a_refused_synchronization_point_is_survived_and_said_once(
    emulator: OnvifEmulator, sources: SourceRunner, caplog: pytest.LogCaptureFixture
) -> None:
    north = emulator.device("onvif-north")
    north.quirks.sync_point_fails = True
    north.quirks.max_pull_points = 1  # a leaked subscription would lock us out
    with caplog.at_level(logging.WARNING, logger="connectors.onvif.events"):
        source, bus = await sources.start("onvif-north")
        north.set_input("DI1", True)
        await bus.wait_kind(K.PHONE_OFFHOOK)
        north.restart()  # the subscription is lost; the next one is refused its re-sync too
        await eventually(lambda: source.loop.stats.subscriptions >= 2 and source.loop.subscribed.is_set())
        north.set_input("DI1", False)
        await bus.wait_kind(K.PHONE_ONHOOK)
    assert north.live_subscriptions == 1
    assert source.loop.stats.sync_refusals >= 2
    said = [r for r in caplog.records if "SetSynchronizationPoint" in r.getMessage()]
    assert len(said) == 1, [r.getMessage() for r in said]


async def test_a_stop_while_the_device_creates_the_subscription_unsubscribes_it(
    emulator: OnvifEmulator, sources: SourceRunner
) -> None:
    north = emulator.device("onvif-north")
    north.quirks.slow_subscribe_seconds = 1.0  # exists on the device before its address is sent
    source, _ = await sources.start("onvif-north", subscribed=False)
    await eventually(lambda: north.live_subscriptions == 1)
    await sources.stop()
    assert north.live_subscriptions == 0, "the subscription made during set-up was left on the device"
    assert source.loop.stats.unsubscribed == 1


async def test_a_stop_during_set_up_leaves_no_http_session_open(
    emulator: OnvifEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The library's service clients open an HTTP session, then load their WSDL (off the loop
    # the first time in a process): the stop is made to land in that load.
    loading, release = asyncio.Event(), asyncio.Event()
    load = onvif_library._cached_document

    async def first_load(url: str) -> object:
        loading.set()
        await release.wait()
        return await load(url)

    monkeypatch.setattr(onvif_library, "_cached_document", first_load)
    north = emulator.device("onvif-north")
    loop = asyncio.get_running_loop()
    complaints: list[str] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: complaints.append(str(context.get("message"))))
    try:
        client = OnvifClient("onvif-north", "127.0.0.1", north.port, "admin", "admin")
        connecting = asyncio.create_task(client.connect())
        await asyncio.wait_for(loading.wait(), WAIT)
        connecting.cancel()
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await connecting
        await client.close()
        del client, connecting
        gc.collect()  # an unclosed session complains when it is collected
    finally:
        loop.set_exception_handler(previous)
    assert [c for c in complaints if "Unclosed" in c] == []


@pytest.mark.parametrize("offset", [timedelta(0), timedelta(seconds=7.3), timedelta(seconds=-42.8)])
async def test_clock_skew_is_measured_against_the_request_midpoint(
    offset: timedelta, emulator: OnvifEmulator
) -> None:
    north = emulator.device("onvif-north")
    north.quirks.whole_second_clock = True
    north.clock_offset = offset
    # The library's own estimate is off by the fraction of the second the device dropped (0-1 s,
    # always the same way): six tries all within the bound fail it with odds of about 98 %.
    for _ in range(6):
        async with OnvifClient("onvif-north", "127.0.0.1", north.port, "admin", "admin") as client:
            error = abs(client.skew - offset)
            assert error <= client.skew_uncertainty, f"skew {client.skew} for a device {offset} ahead"


async def test_no_event_is_dated_after_its_receipt(emulator: OnvifEmulator, sources: SourceRunner) -> None:
    north = emulator.device("onvif-north")
    north.quirks.whole_second_clock = True  # event times rounded to the nearest second
    _, bus = await sources.start("onvif-north")
    for active in (True, False, True, False):
        north.set_input("DI1", active)
    # A device stamping a time just ahead of ours, within what the skew can tell apart.
    north.fire(
        "tns1:Device/Trigger/DigitalInput",
        {"InputToken": "DI2"},
        {"LogicalState": "true"},
        utc_time=north.device_now() + timedelta(seconds=0.9),
    )
    events = await bus.wait_for(lambda events: len(events) >= 5)
    late = [(e.kind, e.occurred_at - e.received_at) for e in events if e.occurred_at > e.received_at]
    assert late == [], "events dated after they were received"
    assert all(e.received_at - e.occurred_at < timedelta(seconds=2) for e in events)


def test_a_granted_lifetime_is_read_from_times_with_and_without_a_zone() -> None:
    granted = onvif_client._granted_seconds
    current = datetime(2026, 1, 5, 10, 0, 0)  # no zone: taken as UTC
    termination = datetime(2026, 1, 5, 10, 10, 0, tzinfo=UTC)
    assert granted(current, termination) == 600.0
    assert granted(termination, current.replace(minute=20)) == 600.0
    assert granted(None, termination) is None


async def test_a_fractional_pull_timeout_setting_is_sent_as_whole_seconds(
    emulator: OnvifEmulator, sources: SourceRunner
) -> None:
    north = emulator.device("onvif-north")
    north.quirks.whole_second_timeouts = True
    settings = PullSettings(
        subscription_seconds=FAST.subscription_seconds,
        pull_timeout=2.5,
        message_limit=100,
        backoff_initial=0.05,
        backoff_max=0.4,
    )
    _, bus = await sources.start("onvif-north", settings=settings)
    north.set_input("DI1", True)
    await asyncio.wait_for(bus.wait_kind(K.PHONE_OFFHOOK), WAIT)
    assert all(re.fullmatch(r"PT[1-9]\d*S", t) for t in north.pull_timeouts), north.pull_timeouts


class SlowStore:
    """A sink whose events become durable only when the test says so (a commit in progress)."""

    def __init__(self) -> None:
        self.submitted: list[Event] = []
        self.pending: list[asyncio.Future[IngestOutcome]] = []
        self.changed = asyncio.Event()

    async def submit(self, payload: EventPayload) -> asyncio.Future[IngestOutcome]:
        assert isinstance(payload, Event)
        self.submitted.append(payload)
        self.changed.set()
        future: asyncio.Future[IngestOutcome] = asyncio.get_running_loop().create_future()
        self.pending.append(future)
        return future

    async def wait_submitted(self, kind: EventKind, count: int = 1) -> None:
        async def seen() -> None:
            while sum(e.kind is kind for e in self.submitted) < count:
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(seen(), 60)

    def store_all(self) -> None:
        for future in self.pending:
            if not future.done():
                future.set_result(IngestOutcome("stored"))


async def test_an_event_is_taken_from_the_device_while_the_previous_one_is_being_stored(
    emulator: OnvifEmulator, sources: SourceRunner
) -> None:
    north = emulator.device("onvif-north")
    store = SlowStore()
    await sources.start("onvif-north", sink=store)
    north.set_input("DI1", True)
    await store.wait_submitted(K.PHONE_OFFHOOK)
    await asyncio.wait_for(north.wait_for_pull(), 60)  # polling again while the pickup is stored
    north.set_input("DI2", True)  # the second phone, while the first pickup is not yet durable
    await store.wait_submitted(K.PHONE_OFFHOOK, count=2)
    assert not any(f.done() for f in store.pending), "neither pickup is durable yet"
    north.set_input("DI1", False)  # a third batch waits for the first to be durable ...
    store.store_all()  # ... and is taken once it is
    await store.wait_submitted(K.PHONE_ONHOOK)
    store.store_all()


async def test_a_batch_taken_while_the_previous_one_fails_to_be_stored_is_not_left_waiting(
    emulator: OnvifEmulator, site: SiteConfig
) -> None:
    """The store fails the first batch while the second is being stored: the source ends (the
    supervisor restarts it), and nothing of it is left behind waiting on the second batch."""
    north = emulator.device("onvif-north")
    connector = next(c for c in onvif_connectors(site) if c.id == "onvif-north")
    connector = connector.model_copy(update={"host": "127.0.0.1", "port": north.port, "username": "admin"})
    source = OnvifEventSource(connector, SiteDirectory(site), "admin", settings=FAST, health_interval=0.1)
    store = SlowStore()
    running = asyncio.create_task(source.run(store))
    try:
        await asyncio.wait_for(source.loop.subscribed.wait(), WAIT)
        north.set_input("DI1", True)
        await store.wait_submitted(K.PHONE_OFFHOOK)
        await asyncio.wait_for(north.wait_for_pull(), WAIT)
        north.set_input("DI2", True)
        await store.wait_submitted(K.PHONE_OFFHOOK, count=2)
        first, second = store.pending
        first.set_exception(StoreError("the database refused the batch"))
        with pytest.raises(ExceptionGroup) as ended:
            await asyncio.wait_for(running, WAIT)
        assert ended.group_contains(StoreError)
        assert second.cancelled(), "the second batch's wait for durability was left running"
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
