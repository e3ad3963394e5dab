"""The event clock: the newest event time a log follower has read, kept in step with its cursor.

Quiet-close decisions are made on event time rather than on the wall clock, so a backfill of last
year's events closes its incidents as last year's time passes, and the same events give the same
incidents however the reading was split into batches, interrupted or resumed. An incident's quiet
counts from the clock's reading when its last event was read (``quiet_from``), and an incoming
event closes the incidents at its place by its own time (:func:`event_time`).
"""

from __future__ import annotations

__all__ = ["EventClock", "catch_up_clock", "event_time"]

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from vmsbridge.model import StoredEvent
from vmsbridge.model.events import LogPosition
from vmsbridge.store.tables import EventRow

LOG_START: LogPosition = (0, 0)


def event_time(event: StoredEvent) -> datetime:
    """When an event counts: the earlier of its device time and its receipt time, so a device
    clock running ahead (up to a day is accepted) cannot make anything quiet early."""
    return min(event.occurred_at, event.received_at)


@dataclass(frozen=True)
class EventClock:
    """``newest``: the latest event time among the events up to ``position`` in the log (None: none).

    An event counts at the earlier of its device time and its receipt time: a device clock running
    ahead (up to a day is accepted) cannot move the clock past what the bridge has received.
    """

    newest: datetime | None
    position: LogPosition

    def read(self, event: StoredEvent) -> EventClock:
        when = event_time(event)
        if self.newest is not None and self.newest >= when:
            return self
        return replace(self, newest=when)

    def quiet_before(self, quiet: timedelta) -> datetime | None:
        """Incidents whose last event is at or before this have been quiet for ``quiet``."""
        return None if self.newest is None else self.newest - quiet

    def at(self, position: LogPosition) -> EventClock:
        return replace(self, position=position)


def _after(dialect: str, position: LogPosition) -> ColumnElement[bool]:
    if dialect == "postgresql":  # the follower's order, see events.follow
        return tuple_(EventRow.txid, EventRow.id) > tuple_(literal(position[0]), literal(position[1]))
    return EventRow.id > position[1]


async def catch_up_clock(
    session: AsyncSession, known: EventClock | None, position: LogPosition
) -> EventClock:
    """``known`` brought forward to ``position`` with the events in between (all of them at first).

    Events at or before a follower's cursor are committed and never change, so only the part of
    the log this process has not counted yet is read: all of it once after a start, then nothing
    unless another process moved the cursor meanwhile.
    """
    if known is not None and known.position == position:
        return known
    start = known.position if known is not None else LOG_START
    dialect = session.bind.dialect.name
    query = select(
        func.max(EventRow.occurred_at).filter(EventRow.occurred_at <= EventRow.received_at),
        func.max(EventRow.received_at).filter(EventRow.received_at < EventRow.occurred_at),
    ).where(_after(dialect, start), ~_after(dialect, position))
    by_device, by_receipt = (await session.execute(query)).one()
    found = [t for t in (by_device, by_receipt, known.newest if known else None) if t is not None]
    return EventClock(max(found) if found else None, position)
