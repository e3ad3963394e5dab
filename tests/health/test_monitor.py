"""The live monitor: one camera.offline per outage (hysteresis), camera.online on recovery; no sleeps."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from vmsbridge.app import Stores, running_services
from vmsbridge.bus import EventPayload
from vmsbridge.config import HealthConfig, SiteConfig, SiteDirectory
from vmsbridge.health.monitor import HealthMonitor
from vmsbridge.model import Event, EventKind, IngestOutcome, StoredEvent
from vmsbridge.model.events import AcceptedEvent, LogPosition

T0 = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
POLICY = HealthConfig(offline_after_seconds=300, recover_after_seconds=60, heartbeat_seconds=30)
K = EventKind


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class CollectingSink:
    def __init__(self) -> None:
        self.published: list[Event] = []

    async def submit(self, payload: EventPayload) -> asyncio.Future[IngestOutcome]:
        assert isinstance(payload, Event)
        self.published.append(payload)
        done: asyncio.Future[IngestOutcome] = asyncio.get_running_loop().create_future()
        done.set_result(IngestOutcome("stored"))
        return done


def stored(n: int, kind: EventKind, at: datetime, device: str = "cam-boathouse") -> StoredEvent:
    return StoredEvent(n, "test", f"n{n}", kind, device, "boathouse", at, at)


def monitor(directory: SiteDirectory, clock: Clock) -> HealthMonitor:
    return HealthMonitor(None, CollectingSink(), directory, POLICY, clock=clock)  # type: ignore[arg-type]


def test_a_flapping_camera_raises_one_offline_and_one_online(directory: SiteDirectory) -> None:
    clock = Clock()
    mon = monitor(directory, clock)
    alerts: list[Event] = []
    # Down 3 s, up 3 s, for ten minutes: never up long enough (60 s) to count as recovered.
    for n, step in enumerate(range(0, 600, 3), start=1):
        clock.now = T0 + timedelta(seconds=step)
        kind = K.CAMERA_COMM_LOST if (step // 3) % 2 == 0 else K.CAMERA_COMM_RESTORED
        mon.apply(stored(n, kind, clock.now))
        alerts += mon.due_alerts(clock.now)
    assert [(a.kind, a.occurred_at) for a in alerts] == [(K.CAMERA_OFFLINE, T0 + timedelta(seconds=300))]
    assert alerts[0].attributes["down_since"] == T0.isoformat()
    # It settles (restored at 597 s was the last event): online exactly 60 s later, once.
    for seconds in range(600, 700):
        clock.now = T0 + timedelta(seconds=seconds)
        alerts += mon.due_alerts(clock.now)
    assert [(a.kind, a.occurred_at) for a in alerts[1:]] == [(K.CAMERA_ONLINE, T0 + timedelta(seconds=657))]
    assert alerts[1].attributes["down_seconds"] == 597.0
    assert alerts[0].native_id != alerts[1].native_id


def test_a_short_outage_raises_nothing(directory: SiteDirectory) -> None:
    clock = Clock()
    mon = monitor(directory, clock)
    mon.apply(stored(1, K.CAMERA_SIGNAL_LOSS, T0))
    mon.apply(stored(2, K.CAMERA_SIGNAL_RESTORED, T0 + timedelta(seconds=299)))
    for seconds in range(0, 1000, 10):
        assert mon.due_alerts(T0 + timedelta(seconds=seconds)) == []
    assert mon.watches["cam-boathouse"].down_since is None  # recovered and forgotten


def test_a_stale_restore_arriving_late_does_not_end_a_newer_loss(directory: SiteDirectory) -> None:
    clock = Clock()
    mon = monitor(directory, clock)
    mon.apply(stored(1, K.CAMERA_COMM_LOST, T0 + timedelta(seconds=100)))
    mon.apply(stored(2, K.CAMERA_COMM_RESTORED, T0 + timedelta(seconds=50)))  # older: out of order
    [alert] = mon.due_alerts(T0 + timedelta(seconds=400))
    assert alert.kind is K.CAMERA_OFFLINE


def test_degraded_causes_never_raise_offline(directory: SiteDirectory) -> None:
    mon = monitor(directory, Clock())
    mon.apply(stored(1, K.CAMERA_TAMPER, T0))
    mon.apply(stored(2, K.CAMERA_RECORDING_STOPPED, T0))
    assert mon.due_alerts(T0 + timedelta(hours=2)) == []


async def test_the_running_service_alerts_through_the_bus_and_records_its_run(
    site: SiteConfig, db_url: str
) -> None:
    clock = Clock()
    async with running_services(site, db_url) as services:
        assert services.monitor is not None
        mon = HealthMonitor(services.stores.health, services.bus, services.directory, POLICY, clock=clock)
        await mon.start()
        outcome = await services.bus.publish(
            {
                "source": "test",
                "native_id": "lost-1",
                "kind": "camera.comm_lost",
                "device_id": "cam-elm-street",
                "occurred_at": T0.isoformat(),
                "received_at": T0.isoformat(),
            }
        )
        assert outcome.status == "stored"
        clock.now = T0 + timedelta(seconds=301)

        async def first_alerts() -> list[Event]:
            # On PostgreSQL the event is readable once no older transaction (e.g. the running
            # correlator's) is still open: commit-safe order, so it may take a moment.
            for _ in range(1000):  # bounded; wait_for below bounds the time too
                if found := await mon.step():
                    return found
                await asyncio.sleep(0.01)
            return []

        [alert] = await asyncio.wait_for(first_alerts(), timeout=10)
        assert alert.kind is K.CAMERA_OFFLINE
        assert alert.device_id == "cam-elm-street"
        assert await mon.step() == []  # at most once per outage
        # The service's own monitor (real clock) raises the same outage's alert: one id per outage,
        # so the store keeps exactly one, whichever came first.
        stored_alerts = await services.stores.health.events_between(
            T0, datetime.now(UTC) + timedelta(days=1), [K.CAMERA_OFFLINE]
        )
        assert [(e.device_id, e.location_id) for e in stored_alerts] == [("cam-elm-street", "elm-street")]
        assert stored_alerts[0].native_id == alert.native_id
        run_id = services.heartbeat.run_id if services.heartbeat else None
    runs = []
    from vmsbridge.app import open_store

    async with open_store(db_url) as stores:
        runs = await stores.health.runs_between(
            datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC) + timedelta(1)
        )
    assert [r.id for r in runs] == [run_id]
    assert runs[0].stopped_at is not None  # a clean stop is on record


async def test_events_after_follows_the_log_in_order(stores: Stores) -> None:
    position = await stores.health.log_position()
    directory_events = [
        AcceptedEvent(
            Event(
                source="test",
                native_id=f"e{i}",
                kind=kind,
                device_id="cam-boathouse",
                occurred_at=T0 + timedelta(seconds=i),
                received_at=T0 + timedelta(seconds=i),
            ),
            "boathouse",
        )
        for i, kind in enumerate([K.MOTION_START, K.CAMERA_COMM_LOST, K.MOTION_STOP, K.CAMERA_COMM_RESTORED])
    ]
    await stores.events.write_batch(directory_events, [])
    start = position

    async def first_batch() -> tuple[list[StoredEvent], LogPosition]:
        # PostgreSQL: readable once every older transaction on the server has finished (txids and
        # snapshots are server-wide, so another database's long transaction can hold it back).
        for _ in range(1000):
            events, moved = await stores.health.events_after(
                start, [K.CAMERA_COMM_LOST, K.CAMERA_COMM_RESTORED], 3
            )
            if moved != start:
                return events, moved
            await asyncio.sleep(0.01)
        return [], start

    events, position = await asyncio.wait_for(first_batch(), timeout=30)
    assert [e.native_id for e in events] == ["e1"]  # three read, one of the kinds asked for
    events, position = await stores.health.events_after(
        position, [K.CAMERA_COMM_LOST, K.CAMERA_COMM_RESTORED], 3
    )
    assert [e.native_id for e in events] == ["e3"]
    assert await stores.health.events_after(position, [K.CAMERA_COMM_LOST], 3) == ([], position)


def test_a_camera_mostly_down_alerts_once_though_no_single_outage_is_long(
    directory: SiteDirectory,
) -> None:
    """Down 290 s, up 61 s, for an hour: each recovery (61 s > 60 s) ends an outage and none lasts
    the 300 s, yet the camera is down 83 % of the time. One camera.offline (mostly down: 300 s of
    the last 20 minutes), no online while it keeps flapping, one online once it stays up 300 s."""
    clock = Clock()
    mon = monitor(directory, clock)
    alerts: list[Event] = []
    n, second = 0, 0
    while second < 3600:
        for kind, length in ((K.CAMERA_COMM_LOST, 290), (K.CAMERA_COMM_RESTORED, 61)):
            n += 1
            mon.apply(stored(n, kind, T0 + timedelta(seconds=second)))
            for tick in range(second, second + length):
                clock.now = T0 + timedelta(seconds=tick)
                alerts += mon.due_alerts(clock.now)
            second += length
    # The second down stretch begins at 351 s; 290 + 10 s of it make 300 s down: alert at 361 s.
    assert [(a.kind, a.occurred_at) for a in alerts] == [(K.CAMERA_OFFLINE, T0 + timedelta(seconds=361))]
    assert alerts[0].attributes["mostly_down"] == {"window_seconds": 1200.0, "down_seconds": 300.0}
    last_up = T0 + timedelta(seconds=second - 61)  # the loop ended on a recovery
    for tick in range(second, second + 400):
        clock.now = T0 + timedelta(seconds=tick)
        alerts += mon.due_alerts(clock.now)
    assert [(a.kind, a.occurred_at) for a in alerts[1:]] == [
        (K.CAMERA_ONLINE, last_up + timedelta(seconds=300))
    ]


def test_brief_losses_now_and_then_do_not_add_up_to_offline(directory: SiteDirectory) -> None:
    """5 s down every minute for an hour: 25 % of the time at most, never 300 s in 20 minutes."""
    clock = Clock()
    mon = monitor(directory, clock)
    alerts: list[Event] = []
    for minute in range(60):
        start = T0 + timedelta(minutes=minute)
        mon.apply(stored(2 * minute + 1, K.CAMERA_SIGNAL_LOSS, start))
        mon.apply(stored(2 * minute + 2, K.CAMERA_SIGNAL_RESTORED, start + timedelta(seconds=5)))
        for tick in range(0, 60, 5):
            alerts += mon.due_alerts(start + timedelta(seconds=tick))
    assert alerts == []
