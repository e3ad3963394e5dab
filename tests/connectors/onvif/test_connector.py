"""The ONVIF connector against the emulator over loopback: real SOAP, real PullPoint, no mocks."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest

from connectors.onvif.client import OnvifClient
from connectors.onvif.emulator import OnvifEmulator
from tests.connectors.conftest import WAIT, eventually
from tests.connectors.onvif.conftest import SourceRunner
from vmsbridge.bus import InProcessBus
from vmsbridge.config import SiteConfig, SiteDirectory
from vmsbridge.correlate import Correlator
from vmsbridge.ingest import IngestStage
from vmsbridge.model import EventKind, Priority
from vmsbridge.store.stores import Stores

K = EventKind


async def test_every_mapped_topic_arrives_normalized_and_mapped_to_site_devices(
    emulator: OnvifEmulator, sources: SourceRunner
) -> None:
    north = emulator.device("onvif-north")
    source, bus = await sources.start("onvif-north")
    [video_source] = list(source.map.by_video_source)
    [vsc] = list(source.map.by_video_source_config)

    north.set_input("DI1", True)
    north.set_input("DI2", True)
    north.motion(video_source, True)
    north.cell_motion(vsc, False)
    north.signal_loss(video_source, True)
    north.tamper(video_source, True)
    north.door_alarm("Door_2", "DoorForcedOpen")
    north.door_physical("Door_2", "Closed")
    north.access_granted("Door_2", "cred-77")
    north.access_denied("Door_2", "cred-13", "CredentialNotEnabled")
    north.set_relay("RO1", True)
    north.fire("tns1:Vendor/Acme/Sprinkler", {"Zone": "3"}, {"State": "on"})
    await bus.wait_for(lambda events: len(events) >= 12)

    seen = {(e.kind, e.device_id) for e in bus.events}
    assert seen == {
        (K.PHONE_OFFHOOK, "bl-lotb"),
        (K.PHONE_OFFHOOK, "bl-quad"),
        (K.MOTION_START, "cam-lotb-ptz"),
        (K.MOTION_STOP, "cam-lotb-ptz"),
        (K.CAMERA_SIGNAL_LOSS, "cam-lotb-ptz"),
        (K.CAMERA_TAMPER, "cam-lotb-ptz"),
        (K.DOOR_FORCED, "door-library-staff"),
        (K.DOOR_CLOSED, "door-library-staff"),
        (K.ACCESS_GRANTED, "door-library-staff"),
        (K.ACCESS_DENIED, "door-library-staff"),
        (K.RELAY_ACTIVE, "io-north"),
        (K.ONVIF_UNKNOWN, "onvif-north"),
    }
    assert all(e.source == "onvif:onvif-north" for e in bus.events)
    [unknown] = bus.of_kind(K.ONVIF_UNKNOWN)
    assert unknown.raw is not None
    assert "Sprinkler" in unknown.raw
    assert source.unknown_topics["tns1:Vendor/Acme/Sprinkler"] == 1
    [denied] = bus.of_kind(K.ACCESS_DENIED)
    assert denied.attributes["reason"] == "CredentialNotEnabled"


async def test_a_pickup_is_stored_at_the_phone_location_and_opens_a_high_incident(
    emulator: OnvifEmulator, sources: SourceRunner, stores: Stores, directory: SiteDirectory, site: SiteConfig
) -> None:
    """The spine end to end: device input -> connector -> bus -> durable ingest -> correlation."""
    bus = InProcessBus()
    correlator = Correlator(stores.incidents, directory, site.correlation)
    ingest = asyncio.create_task(IngestStage(bus, stores.events, directory).run())
    try:
        source, _ = await sources.start("onvif-north", sink=bus)
        emulator.device("onvif-north").set_input("DI1", True)
        await eventually(lambda: source.outcomes["stored"] >= 1)
        await sources.stop()
    finally:
        bus.close()
        ingest.cancel()
        await asyncio.gather(ingest, return_exceptions=True)
    [event] = await stores.events.recent(5)
    assert (event.kind, event.device_id, event.location_id) == (K.PHONE_OFFHOOK, "bl-lotb", "lot-b")
    await correlator.catch_up()
    [incident] = await stores.incidents.search()
    assert (incident.location_id, incident.priority) == ("lot-b", Priority.HIGH)


async def test_a_device_restart_is_recovered_with_state_resync_and_no_duplicate_pickup(
    emulator: OnvifEmulator, sources: SourceRunner
) -> None:
    north = emulator.device("onvif-north")
    source, bus = await sources.start("onvif-north")
    north.set_input("DI1", True)
    await bus.wait_kind(K.PHONE_OFFHOOK)

    subscriptions_before = source.loop.stats.subscriptions
    north.restart()
    north.set_input("DI1", False)  # hung up while the connector was not subscribed
    await bus.wait_kind(K.PHONE_ONHOOK)
    assert source.loop.stats.subscriptions > subscriptions_before
    assert source.loop.stats.lost_subscriptions >= 1
    assert len(bus.of_kind(K.PHONE_OFFHOOK)) == 1, "a re-sync must not create a second pickup"
    assert source.repeats_skipped >= 1  # DI2's unchanged state came again, as Initialized
    # Camera health learns that events from this device may be missing for the lost time.
    [gap] = await bus.wait_kind(K.VMS_GAP)
    assert gap.source == "onvif:onvif-north"
    assert gap.attributes["cameras"] == ["cam-lotb-ptz"]
    assert gap.attributes["why"] == "ONVIF subscription lost"
    lost, found = (datetime.fromisoformat(gap.attributes[k]) for k in ("from", "to"))
    assert lost <= found
    assert gap.occurred_at == lost


async def test_a_refused_renew_is_replaced_before_expiry_without_losing_events(
    emulator: OnvifEmulator, sources: SourceRunner
) -> None:
    north = emulator.device("onvif-north")
    north.quirks.renew_fails = True
    source, bus = await sources.start("onvif-north")
    await eventually(lambda: source.loop.stats.renew_refusals >= 1)
    north.door_alarm("Door_2", "DoorForcedOpen")
    await bus.wait_kind(K.DOOR_FORCED)
    await eventually(lambda: north.live_subscriptions == 1)  # the refused one was unsubscribed


async def test_a_pull_point_that_delivers_nothing_loses_nothing_once_it_recovers(
    emulator: OnvifEmulator, sources: SourceRunner
) -> None:
    north = emulator.device("onvif-north")
    _, bus = await sources.start("onvif-north")
    north.quirks.pull_always_empty = True
    pulls = north.counters.get("PullMessages", 0)
    north.access_granted("Door_2", "cred-1")
    await eventually(lambda: north.counters.get("PullMessages", 0) >= pulls + 2)
    assert bus.of_kind(K.ACCESS_GRANTED) == []
    north.quirks.pull_always_empty = False
    await bus.wait_kind(K.ACCESS_GRANTED)


async def test_exhausted_subscription_slots_are_retried_with_backoff_until_free(
    emulator: OnvifEmulator, sources: SourceRunner
) -> None:
    north = emulator.device("onvif-north")
    north.quirks.max_pull_points = 0
    source, bus = await sources.start("onvif-north", subscribed=False)
    await eventually(lambda: sum(source.loop.stats.errors.values()) >= 3)
    assert north.live_subscriptions == 0
    north.quirks.max_pull_points = 4
    await asyncio.wait_for(source.loop.subscribed.wait(), WAIT)
    north.set_input("DI1", True)
    await bus.wait_kind(K.PHONE_OFFHOOK)


@pytest.mark.parametrize("quirk", ["require_initial_termination_time", "delay_seconds"])
async def test_quirks_the_connector_simply_copes_with(
    quirk: str, emulator: OnvifEmulator, sources: SourceRunner
) -> None:
    north = emulator.device("onvif-north")
    setattr(north.quirks, quirk, 0.3 if quirk == "delay_seconds" else True)
    _, bus = await sources.start("onvif-north")
    north.set_input("DI2", True)
    await bus.wait_kind(K.PHONE_OFFHOOK)


@pytest.mark.parametrize(
    ("quirk", "value", "error"),
    [
        ("http_500", True, "OnvifFault"),
        ("malformed_xml", True, "MalformedResponse"),
        ("hostile_xml", "entity_expansion", "MalformedResponse"),
        ("hostile_xml", "huge", "MalformedResponse"),
    ],
)
async def test_broken_or_hostile_answers_are_survived_and_recovered_from(
    quirk: str, value: object, error: str, emulator: OnvifEmulator, sources: SourceRunner
) -> None:
    north = emulator.device("onvif-north")
    source, bus = await sources.start("onvif-north")
    setattr(north.quirks, quirk, value)
    north.set_input("DI1", True)  # queued on the device while its answers are broken
    await eventually(lambda: source.loop.stats.errors[error] >= 1)
    setattr(north.quirks, quirk, None if quirk == "hostile_xml" else False)
    offhook = await bus.wait_kind(K.PHONE_OFFHOOK)  # recovered: nothing the device still holds is lost
    assert len(offhook) == 1


async def test_comm_loss_is_reported_with_the_real_interval(
    emulator: OnvifEmulator, sources: SourceRunner
) -> None:
    south = emulator.device("onvif-south")
    _, bus = await sources.start("onvif-south", health=0.05)
    failing_from = datetime.now(UTC)
    south.quirks.http_500 = True
    lost = await bus.wait_kind(K.CAMERA_COMM_LOST, count=3)  # every camera on the encoder
    assert {e.device_id for e in lost} == {"cam-athletics-gate", "cam-elm-street", "cam-boathouse"}
    assert all(e.occurred_at >= failing_from - timedelta(seconds=1) for e in lost)
    south.quirks.http_500 = False
    restored = await bus.wait_kind(K.CAMERA_COMM_RESTORED, count=3)
    for event in restored:
        assert event.attributes["lost_at"] == lost[0].occurred_at.isoformat()
        assert event.attributes["down_seconds"] == pytest.approx(
            (event.occurred_at - lost[0].occurred_at).total_seconds()
        )


@pytest.mark.parametrize("hours", [1, -1])
async def test_a_device_clock_an_hour_off_still_authenticates_and_times_are_corrected(
    hours: int, emulator: OnvifEmulator, sources: SourceRunner
) -> None:
    north = emulator.device("onvif-north")
    north.clock_offset = timedelta(hours=hours)
    source, bus = await sources.start("onvif-north")
    assert abs(source.client.skew.total_seconds() - hours * 3600) < 5
    north.set_input("DI1", True)
    [event] = await bus.wait_kind(K.PHONE_OFFHOOK)
    assert abs((event.occurred_at - event.received_at).total_seconds()) < 5


@pytest.mark.parametrize(
    ("device_ahead", "utc_time"),
    [
        # With the skew applied these leave datetime's range: year 0, year 10000.
        (timedelta(hours=1), datetime(1, 1, 1, 0, 30, tzinfo=UTC)),
        (timedelta(hours=-1), datetime(9999, 12, 31, 23, 30, tzinfo=UTC)),
        (timedelta(0), datetime(9999, 12, 31, 23, 30, tzinfo=UTC)),  # far ahead of receipt
        (timedelta(0), datetime(1970, 1, 1, tzinfo=UTC)),  # a clock reset to the epoch
    ],
)
async def test_an_unbelievable_device_time_dates_the_event_on_receipt_and_flags_the_clock(
    device_ahead: timedelta, utc_time: datetime, emulator: OnvifEmulator, sources: SourceRunner
) -> None:
    north = emulator.device("onvif-north")
    north.clock_offset = device_ahead
    source, bus = await sources.start("onvif-north")
    north.fire(
        "tns1:Device/Trigger/DigitalInput", {"InputToken": "DI1"}, {"LogicalState": "true"}, utc_time=utc_time
    )
    [event] = await bus.wait_kind(K.PHONE_OFFHOOK)
    assert event.occurred_at == event.received_at
    assert event.attributes["clock_suspect"] is True
    assert event.attributes["device_time"] == utc_time.isoformat()
    assert source.clock_suspects == 1
    north.set_input("DI1", False)  # the connector goes on, and a believable time is used as before
    [onhook] = await bus.wait_kind(K.PHONE_ONHOOK)
    assert "clock_suspect" not in onhook.attributes
    assert abs((onhook.occurred_at - onhook.received_at).total_seconds()) < 5


@pytest.mark.parametrize("how", ["wrong password", "device refuses every credential"])
async def test_bad_credentials_are_a_clear_error_naming_the_device_and_retried_with_backoff(
    how: str, emulator: OnvifEmulator, sources: SourceRunner, caplog: pytest.LogCaptureFixture
) -> None:
    north = emulator.device("onvif-north")
    north.quirks.reject_all_auth = how.startswith("device")
    password = "wrong" if how == "wrong password" else "admin"
    with caplog.at_level(logging.ERROR, logger="connectors.onvif.events"):
        source, bus = await sources.start("onvif-north", password=password, subscribed=False)
        await eventually(lambda: source.loop.stats.errors["NotAuthorized"] >= 3)
    assert source.loop.last_error is not None
    assert "ONVIF device onvif-north" in str(source.loop.last_error)
    assert any("check the user name and password" in r.getMessage() for r in caplog.records)
    first, second, third = source.loop.stats.retry_delays[:3]
    assert first < second < third, "each retry waits longer than the one before (jitter included)"
    assert north.live_subscriptions == 0
    assert not any(e.kind is K.CAMERA_COMM_LOST for e in bus.events), "a reachable device is not 'down'"


async def test_shutdown_unsubscribes_so_device_slots_are_not_leaked(
    emulator: OnvifEmulator, sources: SourceRunner
) -> None:
    north, south = emulator.device("onvif-north"), emulator.device("onvif-south")
    await sources.start("onvif-north")
    await sources.start("onvif-south")
    assert (north.live_subscriptions, south.live_subscriptions) == (1, 1)
    await sources.stop()
    assert (north.live_subscriptions, south.live_subscriptions) == (0, 0)
    assert north.counters["Unsubscribe"] >= 1


async def test_ptz_goto_preset_reports_ack_and_settle_times(emulator: OnvifEmulator) -> None:
    north = emulator.device("onvif-north")
    async with OnvifClient("onvif-north", "127.0.0.1", north.port, "admin", "admin") as client:
        [profile] = [p for p in await client.profiles() if p.ptz]
        presets = await client.presets(profile.token)
        assert presets == {"3": "bl-lotb", "1": "entrance", "2": "overview"}
        result = await client.goto_preset(profile.token, "3", speed=0.5)
    assert north.goto_calls == [(profile.token, "3")]
    assert result.final_status == "IDLE"
    assert result.settled_seconds is not None
    assert 0 < result.ack_seconds <= result.settled_seconds


async def test_stream_and_snapshot_uris_are_available_to_the_clip_layer(emulator: OnvifEmulator) -> None:
    north = emulator.device("onvif-north")
    async with OnvifClient("onvif-north", "127.0.0.1", north.port, "admin", "admin") as client:
        [profile] = await client.profiles()
        stream = await client.stream_uri(profile.token)
        snapshot = await client.snapshot_uri(profile.token)
        topics = await client.event_topics()
    assert stream == f"rtsp://127.0.0.1:{north.rtsp.port}/live/{profile.token}"
    assert snapshot.startswith(north.url)
    assert "tns1:Device/Trigger/DigitalInput" in topics
    assert "tns1:Door/State/DoorAlarm" in topics
