"""Correlation: which events share an incident, priorities, closing. Pure rules and on both stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import EventFactory
from vmsbridge.bus import InProcessBus
from vmsbridge.config import CorrelationConfig, SiteDirectory
from vmsbridge.correlate import CORRELATOR_STAGE, LIVE_QUIET_AFTER, Correlator, choose_incident
from vmsbridge.ingest import IngestStage
from vmsbridge.model import EventKind, IncidentStatus, Priority, StoredEvent
from vmsbridge.model.incidents import OpenIncidentView
from vmsbridge.store.stores import Stores

T0 = datetime(2026, 11, 20, 22, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=10)


def stored(minutes: float, location: str = "lot-b", kind: EventKind = EventKind.MOTION_START) -> StoredEvent:
    when = T0 + timedelta(minutes=minutes)
    return StoredEvent(1, "s", "n", kind, "dev", location, when, when)


def incident(id_: int, start: float, last: float, location: str = "lot-b") -> OpenIncidentView:
    return OpenIncidentView(
        id_, location, Priority.LOW, T0 + timedelta(minutes=start), T0 + timedelta(minutes=last)
    )


@pytest.mark.parametrize(
    ("minutes", "joins"),
    [(5, True), (10, True), (10 + 1 / 60, False), (-10, True), (-10 - 1 / 60, False), (2, True)],
)
def test_window_edges_after_and_before_the_span(minutes: float, joins: bool) -> None:
    open_here = [incident(1, 0, 0)]
    chosen = choose_incident(stored(minutes), open_here, WINDOW)
    assert (chosen is not None) is joins


def test_other_locations_never_join() -> None:
    assert choose_incident(stored(1, location="quad"), [incident(1, 0, 0, location="lot-b")], WINDOW) is None


def test_nearest_incident_wins() -> None:
    older, newer = incident(1, 0, 5), incident(2, 12, 14)
    assert choose_incident(stored(7), [older, newer], WINDOW) == older  # 2 min after older, 5 before newer
    assert choose_incident(stored(10), [older, newer], WINDOW) == newer  # 5 after older, 2 before newer
    assert choose_incident(stored(8.5), [older, newer], WINDOW) == newer  # a tie goes to the newest


@given(
    gap=st.integers(min_value=0, max_value=7200),
    span=st.integers(min_value=0, max_value=3600),
    window=st.integers(min_value=1, max_value=3600),
)
def test_join_iff_gap_within_window(gap: int, span: int, window: int) -> None:
    view = OpenIncidentView(1, "lot-b", Priority.LOW, T0, T0 + timedelta(seconds=span))
    after = T0 + timedelta(seconds=span + gap)
    before = T0 - timedelta(seconds=gap)
    for when in (after, before):
        event = StoredEvent(1, "s", "n", EventKind.MOTION_START, "d", "lot-b", when, when)
        assert (choose_incident(event, [view], timedelta(seconds=window)) is not None) == (gap <= window)


async def correlate(
    stores: Stores, directory: SiteDirectory, payloads: list[dict[str, object]], **policy: int
) -> Correlator:
    await store_events(stores, directory, payloads)
    correlator = Correlator(
        stores.incidents, directory, CorrelationConfig(**policy), clock=lambda: T0 + timedelta(hours=1)
    )
    await correlator.catch_up()
    return correlator


async def test_phone_pickup_and_camera_motion_share_an_incident_a_far_door_does_not(
    stores: Stores, directory: SiteDirectory, make_event: EventFactory
) -> None:
    await correlate(
        stores,
        directory,
        [
            make_event("motion.start", "cam-lotb-ptz", minutes=0),
            make_event("phone.offhook", "bl-lotb", minutes=1),
            make_event("phone.onhook", "bl-lotb", minutes=3),
            make_event("door.forced", "door-maple-main", minutes=2),
        ],
    )
    incidents = await stores.incidents.search()
    assert [(i.location_id, i.priority, i.event_kinds) for i in incidents] == [
        ("lot-b", Priority.HIGH, (EventKind.MOTION_START, EventKind.PHONE_OFFHOOK, EventKind.PHONE_ONHOOK)),
        ("maple-hall", Priority.HIGH, (EventKind.DOOR_FORCED,)),
    ]
    lot_b = incidents[0]
    assert lot_b.summary == "Motion: Lot B PTZ (light pole 4)"
    assert lot_b.started_at == make_event.base
    assert lot_b.last_event_at == make_event.base + timedelta(minutes=3)
    escalations = [
        e for e in await stores.audit.entries("incident", lot_b.id) if e.action == "incident.escalated"
    ]
    assert [(e.details["from"], e.details["to"]) for e in escalations] == [("low", "high")]


async def test_a_gap_longer_than_the_window_opens_a_new_incident(
    stores: Stores, directory: SiteDirectory, make_event: EventFactory
) -> None:
    await correlate(
        stores,
        directory,
        [
            make_event("motion.start", "cam-lotb-ptz", minutes=0),
            make_event("motion.start", "cam-lotb-ptz", minutes=5),  # exactly the window: joins
            make_event("motion.start", "cam-lotb-ptz", minutes=10.02),  # 5 min 1 s later: new incident
        ],
        window_seconds=300,
    )
    assert [len(i.event_ids) for i in await stores.incidents.search()] == [2, 1]


async def test_routine_events_do_not_open_incidents(
    stores: Stores, directory: SiteDirectory, make_event: EventFactory
) -> None:
    correlator = await correlate(
        stores,
        directory,
        [
            make_event("access.granted", "door-library-staff"),
            make_event("phone.onhook", "bl-quad"),
            make_event("motion.stop", "cam-elm-street"),
        ],
    )
    assert await stores.incidents.search() == []
    assert correlator.processed == 3
    assert await correlator.catch_up() == 0  # the cursor moved past them: nothing is redone


async def test_correlation_resumes_after_the_cursor_and_never_links_twice(
    stores: Stores, directory: SiteDirectory, make_event: EventFactory
) -> None:
    await correlate(stores, directory, [make_event("door.forced", "door-maple-main")])
    # a second correlator (a restart) on the same database sees only the new event
    await correlate(stores, directory, [make_event("motion.start", "cam-maple-entry", minutes=1)])
    [only] = await stores.incidents.search()
    assert len(only.event_ids) == 2


async def test_quiet_incidents_close_on_event_time_but_operator_incidents_stay_open(
    stores: Stores, directory: SiteDirectory, make_event: EventFactory
) -> None:
    manual = await stores.incidents.open(
        location_id="library", summary="call from staff", priority=Priority.MEDIUM, actor="op", at=T0
    )
    correlator = await correlate(
        stores,
        directory,
        [
            make_event("motion.start", "cam-athletics-gate", minutes=0),
            make_event("phone.offhook", "bl-quad", minutes=40),
        ],
        quiet_close_seconds=1800,
    )
    # The phone call 40 min after the motion shows the motion incident has been quiet for 40 min:
    # it is closed while the events are read, not when a wall-clock sweep comes round.
    by_location = {i.location_id: i for i in await stores.incidents.search()}
    assert by_location["athletics"].status is IncidentStatus.CLOSED
    assert by_location["athletics"].close_reason == "quiet for 1800 s"
    assert by_location["quad"].status is IncidentStatus.OPEN
    assert by_location["library"].id == manual.id
    assert by_location["library"].status is IncidentStatus.OPEN  # an operator's: never closed for quiet
    assert await correlator.close_quiet() == []
    closes = [e for e in await stores.audit.entries("incident", by_location["athletics"].id)]
    assert [e.action for e in closes][-1] == "incident.closed"


class SettableClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def store_events(stores: Stores, directory: SiteDirectory, payloads: list[dict[str, object]]) -> None:
    bus = InProcessBus()
    ingest = IngestStage(bus, stores.events, directory)
    futures = [await bus.submit(p) for p in payloads]
    await ingest.process(await bus.fetch(len(payloads)))
    assert [f.result().status for f in futures] == ["stored"] * len(payloads)


async def test_a_backfill_of_old_events_is_not_closed_by_the_wall_clock(
    stores: Stores, directory: SiteDirectory, make_event: EventFactory
) -> None:
    """Importing last year's events: the wall clock says every incident is a year quiet, but the
    events say the call is still going on; its next event must join it."""
    a_year_later = SettableClock(T0 + timedelta(days=365))
    correlator = Correlator(stores.incidents, directory, CorrelationConfig(), clock=a_year_later)
    await store_events(stores, directory, [make_event("phone.offhook", "bl-lotb", minutes=0)])
    await correlator.catch_up()
    assert await correlator.close_quiet() == []
    await store_events(stores, directory, [make_event("motion.start", "cam-lotb-ptz", minutes=5)])
    await correlator.catch_up()
    [call] = await stores.incidents.search()
    assert call.event_kinds == (EventKind.PHONE_OFFHOOK, EventKind.MOTION_START)
    assert call.status is IncidentStatus.OPEN
    # A restart counts the event clock from the log; the time the bridge was stopped is no event time.
    restarted = Correlator(stores.incidents, directory, CorrelationConfig(), clock=a_year_later)
    assert await restarted.close_quiet() == []
    a_year_later.now += LIVE_QUIET_AFTER / 2
    assert await restarted.close_quiet() == []


async def test_a_live_site_gone_silent_closes_by_the_wall_clock(
    stores: Stores, directory: SiteDirectory, make_event: EventFactory
) -> None:
    wall = SettableClock(T0 + timedelta(minutes=1))
    correlator = Correlator(
        stores.incidents, directory, CorrelationConfig(quiet_close_seconds=1800), clock=wall
    )
    await store_events(stores, directory, [make_event("door.forced", "door-maple-main", minutes=0)])
    await correlator.catch_up()
    wall.now = T0 + timedelta(minutes=25)  # 24 min without any event: not yet 30 since the door
    assert await correlator.close_quiet() == []
    wall.now = T0 + timedelta(minutes=31)
    [door] = await stores.incidents.search()
    assert await correlator.close_quiet() == [door.id]
    assert (await stores.incidents.get(door.id)).closed_at == wall.now  # recorded at wall time


async def test_a_device_clock_running_ahead_does_not_close_incidents(
    stores: Stores, directory: SiteDirectory, make_event: EventFactory
) -> None:
    correlator = Correlator(stores.incidents, directory, CorrelationConfig(), clock=lambda: T0)
    ahead = T0 + timedelta(hours=20)  # under a day ahead of its receipt: accepted as it is
    await store_events(
        stores,
        directory,
        [
            make_event("phone.offhook", "bl-lotb", minutes=0),
            make_event(
                "motion.start",
                "cam-athletics-gate",
                minutes=1,
                occurred_at=ahead.isoformat(),
                received_at=(T0 + timedelta(minutes=1)).isoformat(),
            ),
            make_event("motion.start", "cam-lotb-ptz", minutes=5),
        ],
    )
    await correlator.catch_up()
    by_location = {i.location_id: i for i in await stores.incidents.search()}
    assert by_location["lot-b"].event_kinds == (EventKind.PHONE_OFFHOOK, EventKind.MOTION_START)
    assert by_location["lot-b"].status is IncidentStatus.OPEN
    # Counted again from the log (a restart): the newest time is the last lot-b motion, not 20 h on.
    recovered = await stores.incidents.event_clock(CORRELATOR_STAGE)
    assert recovered.newest == T0 + timedelta(minutes=5)


@pytest.mark.parametrize("batch_size", [1, 2, 500])
async def test_what_closes_depends_on_the_events_not_on_where_a_batch_ends(
    stores: Stores, directory: SiteDirectory, make_event: EventFactory, batch_size: int
) -> None:
    """A late event (5 min after the lot-b motion) is read after a forced door 40 min later has
    shown that the motion incident went quiet: it opens its own incident, whatever the batches;
    with a sweep only between batches it would join the first one or not. Its own incident stays
    open: it was read when the clock said 40 min, so it is quiet only 30 min of site time later."""
    await store_events(
        stores,
        directory,
        [
            make_event("motion.start", "cam-lotb-ptz", minutes=0),
            make_event("door.forced", "door-maple-main", minutes=40),
            make_event("motion.start", "cam-lotb-ptz", minutes=5),
        ],
    )
    correlator = Correlator(
        stores.incidents, directory, CorrelationConfig(), batch_size=batch_size, clock=lambda: T0
    )
    await correlator.catch_up()
    assert [(i.location_id, len(i.event_ids), i.status) for i in await stores.incidents.search()] == [
        ("lot-b", 1, IncidentStatus.CLOSED),
        ("maple-hall", 1, IncidentStatus.OPEN),
        ("lot-b", 1, IncidentStatus.OPEN),
    ]


async def test_events_join_an_incident_an_operator_opened(
    stores: Stores, directory: SiteDirectory, make_event: EventFactory
) -> None:
    manual = await stores.incidents.open(
        location_id="lot-b", summary="caller reports a fight", priority=Priority.MEDIUM, actor="op", at=T0
    )
    await correlate(stores, directory, [make_event("phone.offhook", "bl-lotb", minutes=2)])
    [only] = await stores.incidents.search()
    assert only.id == manual.id
    assert only.priority is Priority.HIGH


async def test_closed_incidents_take_no_more_events(
    stores: Stores, directory: SiteDirectory, make_event: EventFactory
) -> None:
    await correlate(stores, directory, [make_event("door.forced", "door-maple-main", minutes=0)])
    [first] = await stores.incidents.search()
    await stores.incidents.close(first.id, actor="op", reason="resolved")
    await correlate(stores, directory, [make_event("door.forced", "door-maple-main", minutes=1)])
    assert [len(i.event_ids) for i in await stores.incidents.search()] == [1, 1]


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_an_event_committed_late_with_a_lower_id_is_not_skipped(
    stores: Stores, directory: SiteDirectory, make_event: EventFactory
) -> None:
    """PostgreSQL hands out ids at insert and shows rows at commit; the cursor must not overtake."""
    from sqlalchemy import insert

    from vmsbridge.store.tables import EventRow

    def row(payload: dict[str, object]) -> dict[str, object]:
        when = datetime.fromisoformat(str(payload["occurred_at"]))
        return {
            "source": payload["source"],
            "native_id": payload["native_id"],
            "kind": payload["kind"],
            "device_id": payload["device_id"],
            "location_id": directory.location_of(str(payload["device_id"])),
            "occurred_at": when,
            "received_at": when,
            "stored_at": when,
            "attributes": {},
        }

    correlator = Correlator(stores.incidents, directory, CorrelationConfig(), clock=lambda: T0)
    slow = await stores.db.engine.connect()
    slow_txn = await slow.begin()
    await slow.execute(insert(EventRow), [row(make_event("door.forced", "door-maple-main", minutes=0))])
    async with stores.db.engine.begin() as fast:
        await fast.execute(insert(EventRow), [row(make_event("motion.start", "cam-maple-entry", minutes=1))])
    # The later insert is committed; the earlier one is not: reading on would skip it forever.
    assert await correlator.catch_up() == 0
    await slow_txn.commit()
    await slow.close()
    assert await correlator.catch_up() == 2
    [incident] = await stores.incidents.search()
    assert incident.event_kinds == (EventKind.DOOR_FORCED, EventKind.MOTION_START)


@pytest.mark.parametrize("batch_size", [1, 500])
async def test_history_backfilled_behind_newer_events_builds_whole_incidents(
    stores: Stores, directory: SiteDirectory, make_event: EventFactory, batch_size: int
) -> None:
    """The site is live (a door forced now) when last month's events are imported: the event clock
    says now, yet the old call still builds one incident, closed by the old events' own time."""
    correlator = Correlator(
        stores.incidents,
        directory,
        CorrelationConfig(quiet_close_seconds=1800),
        batch_size=batch_size,
        clock=lambda: make_event.base,
    )
    await store_events(stores, directory, [make_event("door.forced", "door-maple-main", minutes=0)])
    await correlator.catch_up()
    old = -30 * 24 * 60  # a month ago, received now (an import)
    received = {"received_at": make_event.base.isoformat()}
    await store_events(
        stores,
        directory,
        [
            make_event("phone.offhook", "bl-lotb", minutes=old, **received),
            make_event("motion.start", "cam-lotb-ptz", minutes=old + 2, **received),
            make_event("phone.onhook", "bl-lotb", minutes=old + 4, **received),
            make_event("phone.offhook", "bl-lotb", minutes=old + 120, **received),  # a later call
        ],
    )
    await correlator.catch_up()
    await correlator.close_quiet()
    found = [(i.location_id, len(i.event_ids), i.status) for i in await stores.incidents.search()]
    assert found == [
        ("maple-hall", 1, IncidentStatus.OPEN),
        ("lot-b", 3, IncidentStatus.CLOSED),  # closed by the later call's own time, 2 h on
        ("lot-b", 1, IncidentStatus.OPEN),  # nothing has come after it at lot-b yet
    ]

    # The rest is swept by the event clock: once the site's events are 30 min past the time the
    # old call was read, and past the door's last event, both have been quiet long enough.
    await store_events(stores, directory, [make_event("motion.start", "cam-athletics-gate", minutes=31)])
    await correlator.catch_up()
    statuses = [(i.location_id, i.status) for i in await stores.incidents.search()]
    assert statuses == [
        ("maple-hall", IncidentStatus.CLOSED),
        ("lot-b", IncidentStatus.CLOSED),
        ("lot-b", IncidentStatus.CLOSED),
        ("athletics", IncidentStatus.OPEN),
    ]
