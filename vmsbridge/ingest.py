"""The ingest stage: validate, persist in batches, then acknowledge.

An outcome reaches the publisher only after the transaction holding its event has committed,
so an acknowledged event survives a crash; the unique key ``(source, native_id)`` makes the
replay that follows a crash harmless. Text no store can hold (NUL, lone surrogates) is escaped
and the event stored (see :mod:`vmsbridge.model.storable`). Input that cannot be an event is kept as
rejected input (its JSON text) with its reason, counted, and acknowledged as rejected; the good
events around it are unaffected.
"""

from __future__ import annotations

__all__ = ["IngestFailed", "IngestStage", "IngestStats", "validate_payload"]

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError
from pydantic_core import PydanticSerializationError
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError

from vmsbridge.backoff import Backoff
from vmsbridge.bus import BusClosed, Delivery, EventBus
from vmsbridge.config import SiteDirectory
from vmsbridge.errors import VmsBridgeError
from vmsbridge.model import Event, IngestOutcome
from vmsbridge.model.events import AcceptedEvent, RejectedInput
from vmsbridge.model.storable import escape_text, inspectable_text, unstorable
from vmsbridge.store.events import EventStore

log = logging.getLogger(__name__)

MAX_PAYLOAD_CHARS = 64 * 1024
# The database being away (restart, network, lock timeout) is worth waiting out; any other
# refusal is about the data itself, and only the offending event should pay for it.
_TRANSIENT_STORE_ERRORS = (OperationalError, InterfaceError, OSError)
Key = tuple[str, str]


class IngestFailed(VmsBridgeError):
    """The ingest stage failed while this payload was in hand; it was not stored."""


@dataclass(frozen=True)
class _Written:
    new: dict[Key, int]
    existing: dict[Key, int]
    refused: dict[Key, str]

    def merge(self, other: _Written) -> _Written:
        return _Written(self.new | other.new, self.existing | other.existing, self.refused | other.refused)


@dataclass
class IngestStats:
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    batches: int = 0
    store_retries: int = 0
    rejected_by_reason: Counter[str] = field(default_factory=Counter)
    rejections_not_kept: int = 0


def _payload_text(payload: object) -> str:
    text = inspectable_text(payload.model_dump() if isinstance(payload, Event) else payload)
    return text[:MAX_PAYLOAD_CHARS]


def _payload_size(payload: object) -> int:
    if isinstance(payload, Event):
        # The quick measure for the usual case; what pydantic cannot write is measured as it is kept.
        with contextlib.suppress(PydanticSerializationError):
            return len(payload.model_dump_json())
    return len(_payload_text(payload))


def _reason_from_validation(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "payload"
        parts.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def _reject(source: object, reason: str, payload: object) -> RejectedInput:
    text = escape_text(source)[:200] if isinstance(source, str) else None
    return RejectedInput(text, escape_text(reason), _payload_text(payload))


def validate_payload(payload: object, directory: SiteDirectory) -> AcceptedEvent | RejectedInput:
    """Turn one bus payload into an event the store accepts, or a rejection with a readable reason."""
    if not isinstance(payload, Event | Mapping):
        return _reject(None, f"payload is a {type(payload).__name__}, not an event object", payload)
    source = payload.source if isinstance(payload, Event) else payload.get("source")
    if _payload_size(payload) >= MAX_PAYLOAD_CHARS:
        return _reject(source, f"payload larger than {MAX_PAYLOAD_CHARS} characters", payload)
    if isinstance(payload, Event):
        event = payload
    else:
        try:
            event = Event.model_validate(payload)
        except ValidationError as exc:
            return _reject(source, _reason_from_validation(exc), payload)
    if problem := unstorable(event.attributes, "attributes"):
        return _reject(event.source, problem, payload)
    location = directory.location_of(event.device_id)
    if location is None:
        return _reject(
            event.source, f"device_id: {event.device_id!r} is not a device in the site configuration", payload
        )
    return AcceptedEvent(event, location)


class IngestStage:
    def __init__(
        self,
        bus: EventBus,
        store: EventStore,
        directory: SiteDirectory,
        *,
        batch_size: int = 500,
        on_stored: Callable[[], None] | None = None,
        on_accepted: Callable[[Sequence[AcceptedEvent]], None] | None = None,
    ) -> None:
        self._bus = bus
        self._store = store
        self._directory = directory
        self._batch_size = batch_size
        self._on_stored = on_stored
        self._on_accepted = on_accepted
        self.stats = IngestStats()

    async def run(self) -> None:
        """Consume the bus until cancelled.

        If a batch fails unexpectedly, its publishers are told (rather than left waiting) before
        the stage ends; a supervisor restarts it.
        """
        while True:
            deliveries = await self._bus.fetch(self._batch_size)
            try:
                await self.process(deliveries)
            except asyncio.CancelledError:
                for d in deliveries:
                    d.fail(BusClosed("ingest stopped before this payload was stored"))
                raise
            except Exception as exc:
                failed = IngestFailed(f"ingest failed on this batch ({type(exc).__name__}); send it again")
                for d in deliveries:
                    d.fail(failed)
                raise

    async def process(self, deliveries: Sequence[Delivery]) -> None:
        checked = [validate_payload(d.payload, self._directory) for d in deliveries]
        if self._on_accepted is not None:
            # Valid events, before they are stored: for reactions that cannot wait for a commit
            # (a PTZ camera turning to a phone). Anything that must be durable waits for on_stored.
            self._on_accepted([c for c in checked if isinstance(c, AcceptedEvent)])
        written = await self._persist(checked)

        claimed: set[Key] = set()
        for delivery, result in zip(deliveries, checked, strict=True):
            if isinstance(result, AcceptedEvent):
                key = (result.event.source, result.event.native_id)
                if key in written.refused:
                    result = RejectedInput(result.event.source, written.refused[key], "")
                elif key in written.new and key not in claimed:
                    claimed.add(key)
                    self.stats.stored += 1
                    delivery.settle(IngestOutcome("stored", event_id=written.new[key]))
                    continue
                else:
                    self.stats.duplicates += 1
                    event_id = written.new.get(key, written.existing.get(key))
                    delivery.settle(IngestOutcome("duplicate", event_id=event_id))
                    continue
            self.stats.rejected += 1
            self.stats.rejected_by_reason[result.reason.split(":", 1)[0]] += 1
            log.warning("rejected input from %s: %s", result.source or "unknown source", result.reason)
            delivery.settle(IngestOutcome("rejected", reason=result.reason))
        self.stats.batches += 1
        if written.new and self._on_stored is not None:
            self._on_stored()

    async def _persist(self, checked: Sequence[AcceptedEvent | RejectedInput]) -> _Written:
        accepted = [c for c in checked if isinstance(c, AcceptedEvent)]
        rejected = [c for c in checked if isinstance(c, RejectedInput)]
        try:
            new, existing = await self._write_with_retry(accepted, rejected)
            return _Written(new, existing, {})
        except SQLAlchemyError as exc:
            if len(accepted) > 1:
                # Halve until the event the database refuses is alone; the rest still land.
                half = len(checked) // 2
                return (await self._persist(checked[:half])).merge(await self._persist(checked[half:]))
            if not accepted:
                await self._keep_rejections(rejected, exc)
                return _Written({}, {}, {})
            only = accepted[0]
            reason = f"store refused the event: {type(exc).__name__}: {getattr(exc, 'orig', exc)}"
            kept = _reject(only.event.source, reason, only.event)
            await self._keep_rejections([*rejected, kept], exc)
            return _Written({}, {}, {(only.event.source, only.event.native_id): reason})

    async def _keep_rejections(self, rejected: list[RejectedInput], cause: SQLAlchemyError) -> None:
        """Store rejected input; if even that is refused, say so loudly and carry on.

        Their publishers are told "rejected" either way: blocking ingest on input we already know
        is bad would stop every good event behind it.
        """
        if not rejected:
            return
        try:
            await self._write_with_retry([], rejected)
        except SQLAlchemyError as exc:
            self.stats.rejections_not_kept += len(rejected)
            log.error("could not keep %d rejected payloads (%s; first cause %s)", len(rejected), exc, cause)

    async def _write_with_retry(
        self, accepted: list[AcceptedEvent], rejected: list[RejectedInput]
    ) -> tuple[dict[Key, int], dict[Key, int]]:
        # Nothing is acknowledged until the write succeeds; while the database is away the bus
        # fills up and publishers wait, which is the behaviour we want from an evidence system.
        backoff = Backoff(initial=0.1, maximum=5.0)
        while True:
            try:
                return await self._store.write_batch(accepted, rejected)
            except _TRANSIENT_STORE_ERRORS as exc:
                self.stats.store_retries += 1
                delay = backoff.next()
                log.error("storing %d events failed, retrying in %.1f s: %s", len(accepted), delay, exc)
                await asyncio.sleep(delay)
