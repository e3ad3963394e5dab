"""Events from a JSON Lines file through the normal ingest path (``vmsbridge events import``).

Each line is read as bytes and parsed within limits (:mod:`vmsbridge.jsonlines`); a line that
cannot be a payload is kept as rejected input with ``line N: ...`` as its reason and never reaches
the bus. A payload's ``received_at`` is the bridge's, stamped as the line is read: the line's own is
kept only as the attribute ``payload_received_at``, so a file cannot date its events' receipt (and
ingest then refuses an ``occurred_at`` far ahead of it, as for any device).
"""

from __future__ import annotations

__all__ = ["LineOutcome", "import_lines", "stamped"]

import asyncio
import functools
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import IO, Any

from sqlalchemy.exc import SQLAlchemyError

from vmsbridge.bus import EventSink
from vmsbridge.ingest import MAX_PAYLOAD_CHARS
from vmsbridge.jsonlines import MAX_LINE_BYTES, LineRefused, numbered_lines, parse_line
from vmsbridge.model import IngestOutcome
from vmsbridge.model.events import RejectedInput
from vmsbridge.store.events import EventStore

log = logging.getLogger(__name__)

# (line number, its outcome once durable or None if it was not stored, the payload sent if any)
LineOutcome = Callable[[int, IngestOutcome | None, Any], None]
REFUSALS_PER_WRITE = 500


def stamped(payload: dict[str, Any], received_at: datetime) -> dict[str, Any]:
    """The line as an event payload the bridge received at ``received_at``."""
    attributes = payload.get("attributes", {})
    if not isinstance(attributes, dict):
        return payload  # refused by ingest for its attributes anyway, and kept as it came
    out = dict(payload)
    if "received_at" in out:
        out["attributes"] = {**attributes, "payload_received_at": out.pop("received_at")}
    out["received_at"] = received_at.isoformat()
    return out


class _Refusals:
    """Lines refused before they could be payloads, written as rejected input in batches."""

    def __init__(self, store: EventStore, report: LineOutcome) -> None:
        self._store = store
        self._report = report
        self._pending: list[tuple[int, str, RejectedInput]] = []

    async def add(self, number: int, why: str, raw: bytes | None) -> None:
        text = "" if raw is None else raw[:MAX_PAYLOAD_CHARS].decode("utf-8", "backslashreplace")
        text = text.replace("\x00", "\\u0000")  # PostgreSQL text cannot hold NUL
        # Kept with its line number: `events rejected` shows it without the file at hand.
        self._pending.append((number, why, RejectedInput(None, f"line {number}: {why}", text)))
        if len(self._pending) >= REFUSALS_PER_WRITE:
            await self.flush()

    async def flush(self) -> None:
        pending, self._pending = self._pending, []
        if not pending:
            return
        try:
            await self._store.write_batch([], [r for _, _, r in pending])
        except SQLAlchemyError as exc:
            log.error("could not keep %d refused lines: %s", len(pending), exc)
            for number, _, _ in pending:
                self._report(number, None, None)
            return
        for number, why, _ in pending:
            self._report(number, IngestOutcome("rejected", reason=why), None)


async def import_lines(bus: EventSink, store: EventStore, stream: IO[bytes], report: LineOutcome) -> None:
    """Submit every line of ``stream``; ``report`` hears of each non-blank line once it is durable
    (or not stored). Returns when every line has been submitted and every refusal written; the bus's
    outcomes may still be arriving."""

    def settled(future: asyncio.Future[IngestOutcome], number: int, payload: Any) -> None:
        failed = future.cancelled() or future.exception() is not None
        report(number, None if failed else future.result(), payload)

    refusals = _Refusals(store, report)
    for number, raw in numbered_lines(stream):
        if raw is None:
            await refusals.add(number, f"longer than {MAX_LINE_BYTES} bytes", None)
            continue
        if not raw.strip():
            continue
        try:
            payload = parse_line(raw)
        except LineRefused as exc:
            await refusals.add(number, str(exc), raw)
            continue
        if isinstance(payload, dict):
            payload = stamped(payload, datetime.now(UTC))
        future = await bus.submit(payload)
        future.add_done_callback(functools.partial(settled, number=number, payload=payload))
    await refusals.flush()
