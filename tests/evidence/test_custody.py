"""Custody chain: hashing, JSONL round trip, and detection of every single tampering."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evidence.custody import (
    GENESIS_HASH,
    Action,
    CustodyEntry,
    CustodyParseError,
    append,
    entry_hash,
    from_jsonl,
    parse_jsonl,
    to_jsonl,
    verify_chain,
)

T0 = datetime(2026, 3, 1, 14, 30, tzinfo=UTC)
ACTIONS: tuple[Action, ...] = get_args(Action)


def make_chain(n: int) -> list[CustodyEntry]:
    chain: list[CustodyEntry] = []
    for i in range(n):
        chain.append(
            append(
                chain,
                at=T0 + timedelta(minutes=i),
                actor=f"officer-{i % 3}",
                action=ACTIONS[i % len(ACTIONS)],
                item=f"{i:064x}" if i % 4 else None,
                purpose=f"step {i}",
                details={"n": i, "note": "redaction blur=25" if i % 2 else "ü"},
            )
        )
    return chain


def test_append_links_and_hashes() -> None:
    chain = make_chain(3)
    assert [e.seq for e in chain] == [1, 2, 3]
    assert chain[0].prev_hash == GENESIS_HASH
    assert chain[1].prev_hash == chain[0].hash
    assert chain[2].prev_hash == chain[1].hash
    for e in chain:
        assert e.hash == entry_hash(e.body())
        assert "hash" not in e.body()
    assert verify_chain(chain) == []
    assert verify_chain(chain, expected_head=chain[-1].hash) == []
    assert verify_chain([], expected_head=GENESIS_HASH) == []


def test_append_normalizes_time_and_details() -> None:
    east = timezone(timedelta(hours=5))
    entry = append(
        [],
        at=T0.astimezone(east),
        actor="a",
        action="viewed",
        item=None,
        purpose="p",
        details={"window": ("a", "b")},
    )
    assert entry.at.utcoffset() == timedelta(0)
    assert entry.at == T0
    assert entry.details == {"window": ["a", "b"]}


def test_append_rejects_naive_time_unknown_action_and_missing_actor() -> None:
    with pytest.raises(ValueError, match="timezone"):
        append([], at=datetime(2026, 1, 1), actor="a", action="viewed", item=None, purpose="p", details={})
    with pytest.raises(ValueError, match="action"):
        append([], at=T0, actor="a", action="eaten", item=None, purpose="p", details={})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="actor"):
        append([], at=T0, actor="", action="viewed", item=None, purpose="p", details={})


def test_jsonl_round_trip_is_canonical() -> None:
    chain = make_chain(5)
    text = to_jsonl(chain)
    assert len(text.splitlines()) == 5
    assert from_jsonl(text) == chain
    assert to_jsonl(from_jsonl(text)) == text
    assert json.loads(text.splitlines()[0])["prev_hash"] == GENESIS_HASH


def test_malformed_lines_are_reported_not_raised() -> None:
    lines = to_jsonl(make_chain(3)).splitlines()
    lines[1] = '{"seq": 2, "truncated'
    lines.insert(2, '["not", "an", "object"]')
    entries, problems = parse_jsonl("\n".join(lines) + "\n")
    assert [e.seq for e in entries] == [1, 3]
    assert len(problems) == 2
    assert problems[0].startswith("line 2: malformed custody entry")
    assert problems[1].startswith("line 3: malformed custody entry")
    assert "entry 3: does not follow entry 1" in verify_chain(entries)
    with pytest.raises(CustodyParseError) as err:
        from_jsonl("\n".join(lines))
    assert err.value.problems == problems


@pytest.mark.parametrize(
    "change",
    [
        {"actor": "mallory"},
        {"purpose": "nothing to see"},
        {"details": {"n": 99}},
        {"item": "f" * 64},
        {"at": T0 - timedelta(days=1)},
        {"action": "disposed"},
    ],
)
def test_edited_entry_is_named(change: dict[str, Any]) -> None:
    chain = make_chain(5)
    chain[2] = dataclasses.replace(chain[2], **change)
    assert verify_chain(chain) == ["entry 3: content does not match its hash"]


def test_edited_entry_with_recomputed_hash_breaks_the_next_link() -> None:
    chain = make_chain(5)
    forged = dataclasses.replace(chain[2], purpose="forged")
    chain[2] = dataclasses.replace(forged, hash=entry_hash(forged.body()))
    assert verify_chain(chain) == ["entry 4: does not follow entry 3"]


def test_deleted_entry_is_named() -> None:
    chain = make_chain(5)
    del chain[2]
    assert verify_chain(chain) == ["entry 4: does not follow entry 2"]


def test_deleted_first_entry_is_named() -> None:
    assert verify_chain(make_chain(3)[1:]) == ["entry 2: does not start the chain"]


def test_inserted_entry_is_named() -> None:
    chain = make_chain(5)
    forged = append(chain[:2], at=T0, actor="mallory", action="viewed", item=None, purpose="x", details={})
    chain.insert(2, forged)
    assert verify_chain(chain) == ["entry 3: a second entry 3 (position 4), inserted"]


def test_swapped_pair_is_named() -> None:
    chain = make_chain(5)
    chain[1], chain[2] = chain[2], chain[1]
    problems = verify_chain(chain)
    assert problems == [
        "entry 3: does not follow entry 1",
        "entry 2: out of order, comes after entry 3",
        "entry 4: does not follow entry 2",
    ]


def test_truncation_needs_the_anchor() -> None:
    chain = make_chain(4)
    head = chain[-1].hash
    assert verify_chain(chain[:-1]) == []  # links alone cannot see a dropped tail
    assert verify_chain(chain[:-1], expected_head=head) == [
        "chain ends at entry 3 whose hash does not match the expected head"
    ]


# --- property: any single edit/delete/insert/swap is detected ------------------------------------

_EDITABLE = ("seq", "at", "actor", "action", "item", "purpose", "details", "prev_hash", "hash")


@st.composite
def tampered(draw: st.DrawFn) -> tuple[list[CustodyEntry], list[CustodyEntry]]:
    chain = make_chain(draw(st.integers(min_value=1, max_value=8)))
    kinds = ["edit", "delete", "insert"] + (["swap"] if len(chain) >= 2 else [])
    kind = draw(st.sampled_from(kinds))
    bad = list(chain)
    if kind == "edit":
        i = draw(st.integers(0, len(chain) - 1))
        name = draw(st.sampled_from(_EDITABLE))
        old = getattr(chain[i], name)
        new: Any
        if name == "seq":
            new = draw(st.integers(-5, 20).filter(lambda v: v != old))
        elif name == "at":
            new = old + timedelta(seconds=draw(st.integers(1, 10**6)) * draw(st.sampled_from([-1, 1])))
        elif name == "action":
            new = draw(st.sampled_from([a for a in ACTIONS if a != old]))
        elif name == "details":
            new = draw(
                st.dictionaries(st.text(max_size=5), st.integers(), max_size=3).filter(lambda d: d != old)
            )
        elif name == "item":
            new = draw(st.one_of(st.none(), st.text(max_size=64)).filter(lambda v: v != old))
        else:
            new = draw(st.text(max_size=70).filter(lambda v: v != old))
        bad[i] = dataclasses.replace(chain[i], **{name: new})
    elif kind == "delete":
        del bad[draw(st.integers(0, len(chain) - 1))]
    elif kind == "insert":
        i = draw(st.integers(0, len(chain)))
        forged = append(
            chain[:i],
            at=T0 + timedelta(seconds=draw(st.integers(0, 10**6))),
            actor=draw(st.text(min_size=1, max_size=10)),
            action=draw(st.sampled_from(ACTIONS)),
            item=None,
            purpose=draw(st.text(max_size=10)),
            details={},
        )
        bad.insert(i, forged)
    else:
        i = draw(st.integers(0, len(chain) - 2))
        bad[i], bad[i + 1] = bad[i + 1], bad[i]
    return chain, bad


@given(tampered())
def test_any_single_tampering_is_detected(case: tuple[list[CustodyEntry], list[CustodyEntry]]) -> None:
    chain, bad = case
    problems = verify_chain(bad, expected_head=chain[-1].hash)
    assert problems
    assert all(p.startswith(("entry ", "chain ends at entry ")) for p in problems)
    # And it survives serialization: the same tampering is still found after a JSONL round trip.
    assert verify_chain(from_jsonl(to_jsonl(bad)), expected_head=chain[-1].hash)
