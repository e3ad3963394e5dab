"""Ingest takes whatever a device or a file sends: odd text is escaped and stored, never fatal.

Text that a store cannot hold (NUL for PostgreSQL, lone surrogates for both) is escaped as
``\\uXXXX`` the same way on both backends; numbers JSON cannot carry faithfully are refused naming
the field; anything else odd is rejected and kept. The same input gives the same outcome on SQLite
and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tests.conftest import EventFactory
from vmsbridge.app import Stores, open_store
from vmsbridge.bus import InProcessBus
from vmsbridge.config import SiteDirectory
from vmsbridge.ingest import IngestStage
from vmsbridge.model import Event, IngestOutcome
from vmsbridge.model.storable import MAX_DEPTH, MAX_INTEGER_DIGITS
from vmsbridge.store.tables import EventRow

WAIT = 60.0  # generous bound on one outcome; a healthy run settles in milliseconds


def escaped(text: str) -> str:
    """The expected stored form, written independently of the code under test."""
    return "".join(f"\\u{ord(c):04x}" if c == "\x00" or 0xD800 <= ord(c) <= 0xDFFF else c for c in text)


def escaped_tree(value: Any) -> Any:
    if isinstance(value, str):
        return escaped(value)
    if isinstance(value, dict):
        return {escaped(k): escaped_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [escaped_tree(v) for v in value]
    return value


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = [value]
    return value


@pytest.fixture
async def pipeline(
    stores: Stores, directory: SiteDirectory
) -> AsyncIterator[tuple[InProcessBus, asyncio.Task[None]]]:
    bus = InProcessBus(capacity=100)
    task = asyncio.create_task(IngestStage(bus, stores.events, directory, batch_size=50).run())
    yield bus, task
    bus.close()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def outcomes_of(
    pipeline: tuple[InProcessBus, asyncio.Task[None]], payloads: Sequence[Any]
) -> list[IngestOutcome]:
    """Each payload's outcome, failing at once (not after the wait) if the stage dies instead."""
    bus, stage = pipeline
    futures = [await bus.submit(p) for p in payloads]
    waiting: set[asyncio.Future[Any]] = set(futures)
    while waiting:
        done, waiting = await asyncio.wait(
            waiting | {stage}, timeout=WAIT, return_when=asyncio.FIRST_COMPLETED
        )
        assert done, "an outcome within the wait"
        assert stage not in done, f"the ingest stage died: {stage.exception()!r}"
        waiting.discard(stage)
    return [f.result() for f in futures]


async def raw_of(stores: Stores, event_id: int) -> str | None:
    async with stores.db.sessions() as session:
        return await session.scalar(select(EventRow.raw).where(EventRow.id == event_id))


async def test_an_xprotect_style_event_with_a_lone_surrogate_is_stored_escaped_and_ingest_goes_on(
    stores: Stores, pipeline: tuple[InProcessBus, asyncio.Task[None]], make_event: EventFactory
) -> None:
    _, task = pipeline
    odd = "gate \udfff open"
    event = Event.model_validate(
        make_event(attributes={"data": {"label": odd, "codes": [odd, 1]}}, raw='{"data": "\\udfff"}')
    )
    mapping = make_event(native_id=f"n-\udfff-{odd}", attributes={"key\udfff": odd}, raw=odd)
    later = make_event(minutes=5)
    first, second, third = await outcomes_of(pipeline, [event, mapping, later])
    assert [o.status for o in (first, second, third)] == ["stored"] * 3
    assert not task.done(), "the stage is still running"

    assert first.event_id is not None
    assert second.event_id is not None
    stored = await stores.events.get(first.event_id)
    assert stored is not None
    assert stored.attributes["data"] == {"label": "gate \\udfff open", "codes": ["gate \\udfff open", 1]}
    assert await raw_of(stores, first.event_id) == '{"data": "\\udfff"}'
    other = await stores.events.get(second.event_id)
    assert other is not None
    assert other.native_id == "n-\\udfff-gate \\udfff open"
    assert other.attributes == {"key\\udfff": "gate \\udfff open"}
    assert await raw_of(stores, second.event_id) == "gate \\udfff open"


async def test_nul_and_surrogates_are_escaped_in_every_stored_text_on_both_backends(
    stores: Stores, pipeline: tuple[InProcessBus, asyncio.Task[None]], make_event: EventFactory
) -> None:
    odd = "a\x00b\ud800c\x1b[31m\u2028d"
    payload = make_event(
        source=f"test:{odd}",
        native_id=odd,
        attributes={odd: [odd, {odd: odd}], "plain": "caf\u00e9"},
        raw=odd,
    )
    [outcome] = await outcomes_of(pipeline, [payload])
    assert outcome.status == "stored", outcome.reason
    assert outcome.event_id is not None
    stored = await stores.events.get(outcome.event_id)
    assert stored is not None
    assert stored.source == "test:a\\u0000b\\ud800c\x1b[31m\u2028d"
    assert stored.native_id == "a\\u0000b\\ud800c\x1b[31m\u2028d"
    assert stored.attributes == escaped_tree(payload["attributes"])
    assert stored.attributes["plain"] == "caf\u00e9", "text the store can hold is kept as it is"
    assert await raw_of(stores, outcome.event_id) == escaped(odd)
    # The same event again is recognised as a replay: escaping is deterministic.
    [again] = await outcomes_of(pipeline, [payload])
    assert (again.status, again.event_id) == ("duplicate", outcome.event_id)


@pytest.mark.parametrize(
    ("bad", "where", "what"),
    [
        ({"reading": float("nan")}, "attributes.reading", "NaN"),
        ({"a": {"b": [1, float("inf")]}}, "attributes.a.b.1", "Infinity"),
        ({"a": [-float("inf")]}, "attributes.a.0", "-Infinity"),
    ],
)
async def test_nan_and_infinity_are_refused_naming_the_field_and_kept(
    stores: Stores,
    pipeline: tuple[InProcessBus, asyncio.Task[None]],
    make_event: EventFactory,
    bad: dict[str, Any],
    where: str,
    what: str,
) -> None:
    _, task = pipeline
    as_mapping = make_event(attributes=bad)
    as_event = Event.model_validate(make_event(attributes=bad))
    outcomes = await outcomes_of(pipeline, [as_mapping, as_event, make_event()])
    assert [o.status for o in outcomes] == ["rejected", "rejected", "stored"]
    for outcome in outcomes[:2]:
        assert outcome.reason is not None
        assert outcome.reason.startswith(f"{where}: {what} ")
    kept = await stores.events.rejected(5)
    assert [k.reason for k in kept] == [o.reason for o in outcomes[:2]]
    assert what in kept[0].payload, "the payload is kept as received"
    assert not task.done()


async def test_numbers_too_long_nesting_too_deep_and_non_json_values_are_rejected_and_kept(
    stores: Stores, pipeline: tuple[InProcessBus, asyncio.Task[None]], make_event: EventFactory
) -> None:
    _, task = pipeline
    huge = 10**5000
    payloads: list[Any] = [
        make_event(attributes={"n": huge}),
        make_event(attributes={"deep": nested(5000)}),
        {"source": "test:odd", "native_id": huge, "kind": nested(5000)},
        nested(100_000),
        huge,
        {"not-an-event": {huge: nested(3000), (1, 2): "tuple key"}},
        make_event(attributes={"when": object()}),
        make_event(attributes={1.5: "a float key"}),
    ]
    outcomes = await outcomes_of(pipeline, [*payloads, make_event(minutes=3)])
    assert [o.status for o in outcomes] == ["rejected"] * len(payloads) + ["stored"]
    reasons = [o.reason or "" for o in outcomes]
    assert reasons[0].startswith("attributes.n: an integer longer than ")
    assert reasons[1].startswith("attributes.deep.0.0.0")
    assert "nested deeper than" in reasons[1]
    assert reasons[4] == "payload is a int, not an event object"
    assert reasons[6] == "attributes.when: object is not a JSON value"
    assert reasons[7].startswith("attributes.1.5")
    kept = await stores.events.rejected(20)
    assert len(kept) == len(payloads)
    assert all(k.payload for k in kept), "something readable is kept for each"
    assert not task.done()


# -- fuzzing: any input, both backends, compared with a SQLite reference --------------------------

ODD_CHARS = ["\x00", "\udfff", "\ud800", "\ud83d", "\x1b", "\x7f", "\u2028", "\ufeff", "\uffff", "\\", '"']
odd_char = st.one_of(st.characters(), st.sampled_from(ODD_CHARS), st.integers(0xD800, 0xDFFF).map(chr))
odd_text = st.text(odd_char, max_size=30)


class Huge(int):
    """An integer too long for ``repr`` that Hypothesis can still print in a failing example."""

    def __repr__(self) -> str:
        return f"Huge(~2**{self.bit_length()})"


odd_numbers = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, 10**999, 10**1000, 2**64, 1e308, -0.0, 5e-324]),
    st.integers(4990, 5010).map(lambda digits: Huge(10**digits + 1)),
    st.integers(4990, 5010).map(lambda digits: Huge(-(10**digits))),
)
numbers = st.one_of(st.integers(), st.floats(), odd_numbers)
scalars = st.one_of(st.none(), st.booleans(), numbers, odd_text)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(odd_text, inner, max_size=4),
    max_leaves=12,
)
deep = st.one_of(st.integers(1, 40), st.integers(1, 3000)).map(nested)
odd_values = st.one_of(odd_numbers, deep)
any_value = st.one_of(json_values, odd_values)
SITE_DEVICES = ["cam-lotb-ptz", "bl-quad", "door-maple-main"]
KINDS = ["motion.start", "phone.offhook", "door.forced"]
OCCURRED, RECEIVED = "2026-11-20T22:00:00+00:00", "2026-11-20T22:00:01+00:00"


@st.composite
def event_payloads(draw: st.DrawFn) -> dict[str, Any]:
    """An event that is valid apart from whatever the draw makes odd."""
    payload: dict[str, Any] = {
        "source": "fuzz:" + draw(odd_text),
        "native_id": "n" + draw(odd_text),
        "kind": draw(st.sampled_from(KINDS)),
        "device_id": draw(st.sampled_from(SITE_DEVICES)),
        "occurred_at": OCCURRED,
        "received_at": RECEIVED,
        # Bracketed keys: the model strips whitespace from the ends of attribute names.
        "attributes": draw(st.dictionaries(odd_text.map(lambda k: f"<{k}>"), json_values, max_size=5)),
    }
    if draw(st.booleans()):
        payload["attributes"]["odd"] = draw(st.one_of(odd_values, st.lists(odd_values, max_size=2)))
    if draw(st.booleans()):
        payload["raw"] = draw(odd_text)
    if draw(st.integers(0, 3)) == 3:  # now and then, one field is replaced by anything at all
        payload[draw(st.sampled_from(["extra", *sorted(payload)]))] = draw(any_value)
    return payload


@st.composite
def payloads(draw: st.DrawFn) -> Any:
    """Mostly events made odd; now and then anything at all."""
    return draw(any_value) if draw(st.integers(0, 3)) == 3 else draw(event_payloads())


def is_storable_json(value: Any, depth: int = 0) -> bool:
    """What a valid event's attributes may hold: finite numbers of sane length, bounded depth."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return True
    if isinstance(value, int):
        return bool(abs(value) < 10**MAX_INTEGER_DIGITS)
    if isinstance(value, float):
        return math.isfinite(value)
    if depth >= MAX_DEPTH:
        return False
    if isinstance(value, list):
        return all(is_storable_json(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(is_storable_json(v, depth + 1) for v in value.values())
    return False


def same_json(a: Any, b: Any) -> bool:
    """Equal as JSON: PostgreSQL reads 1e20 back as an integer, SQLite as a float."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return a == b or float(a) == float(b)
    return bool(a == b and type(a) is type(b))


RUNS = itertools.count()


def _valid_shape(payload: Any) -> bool:
    """Drawn by event_payloads and left intact (no field replaced by an arbitrary value)."""
    return (
        isinstance(payload, dict)
        and set(payload)
        <= {"source", "native_id", "kind", "device_id", "occurred_at", "received_at", "attributes", "raw"}
        and isinstance(payload.get("source"), str)
        and isinstance(payload.get("native_id"), str)
        and (payload.get("occurred_at"), payload.get("received_at")) == (OCCURRED, RECEIVED)
        and payload.get("device_id") in SITE_DEVICES
        and payload.get("kind") in KINDS
        and isinstance(payload.get("attributes"), dict)
        and isinstance(payload.get("raw", ""), str)
        and str(payload["source"]).startswith("fuzz:")
    )


@pytest.fixture
async def reference(tmp_path: Path) -> AsyncIterator[Stores]:
    """A second, SQLite store that sees exactly what the store under test sees."""
    async with open_store(f"sqlite+aiosqlite:///{tmp_path / 'reference.db'}", migrate=True) as s:
        yield s


async def ingest_once(stores: Stores, directory: SiteDirectory, batch: Sequence[Any]) -> list[IngestOutcome]:
    bus = InProcessBus(capacity=len(batch))
    stage = IngestStage(bus, stores.events, directory)
    futures = [await bus.submit(p) for p in batch]
    await stage.process(await bus.fetch(len(batch)))  # raising here is the stage dying
    assert all(f.done() for f in futures), "every payload has an outcome"
    return [f.result() for f in futures]


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(batch=st.lists(payloads(), min_size=1, max_size=6))
async def test_fuzzed_input_never_stops_ingest_and_gets_the_same_outcome_on_both_backends(
    stores: Stores, reference: Stores, directory: SiteDirectory, batch: list[Any]
) -> None:
    # Examples share the databases: a run tag keeps one example's ids from colliding with another's.
    tag = f"{next(RUNS)}:"
    batch = [{**p, "native_id": tag + p["native_id"]} if _valid_shape(p) else p for p in batch]
    rejected_before = await stores.events.count_rejected()
    outcomes = await ingest_once(stores, directory, batch)
    expected = await ingest_once(reference, directory, batch)

    assert [(o.status, o.reason) for o in outcomes] == [(o.status, o.reason) for o in expected]
    rejected = [o for o in outcomes if o.status == "rejected"]
    assert await stores.events.count_rejected() - rejected_before == len(rejected), "every rejection is kept"
    for payload, outcome, ref in zip(batch, outcomes, expected, strict=True):
        assert outcome.status in ("stored", "duplicate", "rejected")
        if _valid_shape(payload) and is_storable_json(payload["attributes"]):
            assert outcome.status in ("stored", "duplicate"), (outcome.reason, payload)
        if outcome.status != "stored":
            continue
        assert outcome.event_id is not None
        assert ref.event_id is not None
        stored, ref_stored = (
            await stores.events.get(outcome.event_id),
            await reference.events.get(ref.event_id),
        )
        assert stored is not None
        assert ref_stored is not None
        assert (stored.source, stored.native_id) == (ref_stored.source, ref_stored.native_id)
        assert same_json(stored.attributes, ref_stored.attributes)
        assert await raw_of(stores, outcome.event_id) == await raw_of(reference, ref.event_id)
        if isinstance(payload, dict) and isinstance(payload.get("attributes"), dict):
            assert same_json(stored.attributes, escaped_tree(payload["attributes"]))
