"""A short report over a long-running bridge reads the window, not the whole log."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from datetime import UTC, datetime, timedelta

from vmsbridge.app import Stores
from vmsbridge.config import SiteConfig
from vmsbridge.health.service import health_report
from vmsbridge.model import Event, EventKind, StoredEvent
from vmsbridge.model.events import AcceptedEvent
from vmsbridge.store.health import HealthStore

K = EventKind
T0 = datetime(2026, 10, 1, tzinfo=UTC)


def accepted(n: int, kind: EventKind, device: str, at: datetime) -> AcceptedEvent:
    return AcceptedEvent(
        Event(
            source="onvif:t", native_id=f"b{n}", kind=kind, device_id=device, occurred_at=at, received_at=at
        ),
        "x",
    )


class CountingStore(HealthStore):
    """Counts the event rows a report pulls into Python."""

    def __init__(self, inner: HealthStore) -> None:
        super().__init__(inner._db)
        self.rows = 0

    async def camera_events(
        self,
        cameras: Sequence[str],
        start: datetime,
        end: datetime,
        kinds: Collection[EventKind],
        *,
        chunk: int = 200,
    ) -> AsyncIterator[tuple[list[str], list[StoredEvent]]]:
        async for part, events in super().camera_events(cameras, start, end, kinds, chunk=chunk):
            self.rows += len(events)
            yield part, events

    async def events_between(
        self, start: datetime, end: datetime, kinds: Collection[EventKind]
    ) -> list[StoredEvent]:
        found = await super().events_between(start, end, kinds)
        self.rows += len(found)
        return found

    async def latest_before(
        self, start: datetime, at: datetime, kinds: Collection[EventKind]
    ) -> list[StoredEvent]:
        found = await super().latest_before(start, at, kinds)
        self.rows += len(found)
        return found


async def test_a_one_day_report_on_a_month_long_run_reads_about_a_day(
    stores: Stores, site: SiteConfig
) -> None:
    run = await stores.health.start_run(at=T0, host="h", pid=1, heartbeat_seconds=30)
    await stores.health.stop_run(run, T0 + timedelta(days=31))
    down, flapping = site.cameras[0].id, site.cameras[1].id
    batch = [accepted(0, K.CAMERA_COMM_LOST, down, T0 + timedelta(days=2))]  # never restored
    n = 1
    for hour in range(30 * 24):  # a loss and a restore every hour for a month
        at = T0 + timedelta(hours=hour)
        batch.append(accepted(n, K.CAMERA_SIGNAL_LOSS, flapping, at))
        batch.append(accepted(n + 1, K.CAMERA_SIGNAL_RESTORED, flapping, at + timedelta(minutes=6)))
        n += 2
    await stores.events.write_batch(batch, [])
    counting = CountingStore(stores.health)
    start = T0 + timedelta(days=29)
    report = await health_report(counting, site, start, start + timedelta(days=1), T0 + timedelta(days=40))
    assert counting.rows < 2 * 2 * 24 + 10  # about the window and a day before it, not 1,441 rows
    cameras = {c.camera_id: c for c in report.cameras}
    assert cameras[down].down_seconds == 86_400.0  # down since day 2: known from its last state
    assert round(cameras[flapping].down_seconds) == 24 * 6 * 60
