"""Append-only, hash-chained chain-of-custody entries.

Each entry's ``hash`` is the SHA-256 of the canonical JSON (sorted keys, no spaces, UTF-8) of all
its other fields, ``prev_hash`` included, so editing, deleting, inserting or reordering entries
breaks either an entry's own hash or the link to its predecessor. Dropping or forging entries at
the *end* of a chain can only be caught against an anchor kept elsewhere (the head hash and
length, e.g. in a signed bag-info.txt or the database): pass it as ``expected_head``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, get_args

__all__ = [
    "GENESIS_HASH",
    "Action",
    "CustodyEntry",
    "CustodyParseError",
    "append",
    "entry_hash",
    "from_jsonl",
    "parse_jsonl",
    "to_jsonl",
    "verify_chain",
]

Action = Literal[
    "acquired", "derived", "viewed", "exported", "mask_lifted", "verified", "transferred", "disposed"
]
ACTIONS: frozenset[str] = frozenset(get_args(Action))
GENESIS_HASH = "0" * 64
_FIELDS = ("seq", "at", "actor", "action", "item", "purpose", "details", "prev_hash", "hash")


class CustodyParseError(ValueError):
    """Malformed custody JSONL; ``problems`` names each bad line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class CustodyEntry:
    seq: int
    at: datetime
    actor: str
    action: Action
    item: str | None
    purpose: str
    details: dict[str, Any] = field(hash=False)
    prev_hash: str
    hash: str

    def body(self) -> dict[str, Any]:
        """Every field except ``hash``, JSON-ready."""
        return {
            "seq": self.seq,
            "at": _iso(self.at),
            "actor": self.actor,
            "action": self.action,
            "item": self.item,
            "purpose": self.purpose,
            "details": self.details,
            "prev_hash": self.prev_hash,
        }

    def to_json(self) -> str:
        return _canonical({**self.body(), "hash": self.hash})


def _iso(at: datetime) -> str:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("custody times must be timezone-aware")
    return at.astimezone(UTC).isoformat()


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def entry_hash(body: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of an entry's fields (without ``hash``)."""
    return hashlib.sha256(_canonical(dict(body)).encode("utf-8")).hexdigest()


def append(
    chain: Sequence[CustodyEntry],
    *,
    at: datetime,
    actor: str,
    action: Action,
    item: str | None,
    purpose: str,
    details: Mapping[str, Any] | None = None,
) -> CustodyEntry:
    """The entry that follows ``chain`` (the caller stores it; nothing is mutated)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown custody action {action!r}")
    if not actor:
        raise ValueError("custody entries need an actor")
    # Round-trip details through JSON so the entry equals what from_jsonl will read back.
    clean_details: dict[str, Any] = json.loads(_canonical(dict(details or {})))
    last = chain[-1] if chain else None
    at_utc = datetime.fromisoformat(_iso(at))
    body: dict[str, Any] = {
        "seq": last.seq + 1 if last else 1,
        "at": at_utc,
        "actor": actor,
        "action": action,
        "item": item,
        "purpose": purpose,
        "details": clean_details,
        "prev_hash": last.hash if last else GENESIS_HASH,
    }
    provisional = CustodyEntry(**body, hash="")
    return CustodyEntry(**body, hash=entry_hash(provisional.body()))


def to_jsonl(entries: Sequence[CustodyEntry]) -> str:
    """One canonical JSON object per line."""
    return "".join(entry.to_json() + "\n" for entry in entries)


def _entry_from_obj(obj: Any) -> CustodyEntry:
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    missing = [name for name in _FIELDS if name not in obj]
    extra = sorted(set(obj) - set(_FIELDS))
    if missing or extra:
        raise ValueError(f"missing fields {missing}, unexpected fields {extra}")
    seq, at, actor, action, item = obj["seq"], obj["at"], obj["actor"], obj["action"], obj["item"]
    purpose, details, prev_hash, hash_ = obj["purpose"], obj["details"], obj["prev_hash"], obj["hash"]
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise ValueError("seq is not an integer")
    if not isinstance(at, str):
        raise ValueError("at is not a string")
    when = datetime.fromisoformat(at)
    if when.tzinfo is None:
        raise ValueError("at has no timezone")
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if not all(isinstance(v, str) for v in (actor, purpose, prev_hash, hash_)):
        raise ValueError("actor, purpose, prev_hash and hash must be strings")
    if item is not None and not isinstance(item, str):
        raise ValueError("item must be a string or null")
    if not isinstance(details, dict):
        raise ValueError("details is not an object")
    return CustodyEntry(
        seq=seq,
        at=when,
        actor=actor,
        action=action,
        item=item,
        purpose=purpose,
        details=details,
        prev_hash=prev_hash,
        hash=hash_,
    )


def parse_jsonl(text: str) -> tuple[list[CustodyEntry], list[str]]:
    """Entries of the well-formed lines, and one problem per malformed line (by line number)."""
    entries: list[CustodyEntry] = []
    problems: list[str] = []
    # Split on "\n" only: str.splitlines() would also split inside strings holding U+0085 or U+2028.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            entries.append(_entry_from_obj(json.loads(line)))
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            problems.append(f"line {number}: malformed custody entry ({exc})")
    return entries, problems


def from_jsonl(text: str) -> list[CustodyEntry]:
    """Parse custody JSONL; raises :class:`CustodyParseError` naming every malformed line."""
    entries, problems = parse_jsonl(text)
    if problems:
        raise CustodyParseError(problems)
    return entries


def verify_chain(entries: Sequence[CustodyEntry], *, expected_head: str | None = None) -> list[str]:
    """Every problem in the chain, naming the entry by its ``seq``; empty when intact.

    ``expected_head`` (the last entry's hash, kept elsewhere) also catches a truncated or extended
    chain, which the links alone cannot.
    """
    problems: list[str] = []
    prev: CustodyEntry | None = None
    for position, entry in enumerate(entries, start=1):
        try:
            if entry_hash(entry.body()) != entry.hash:
                problems.append(f"entry {entry.seq}: content does not match its hash")
        except (TypeError, ValueError) as exc:
            problems.append(f"entry {entry.seq}: cannot be hashed ({exc})")
        if prev is None:
            if entry.seq != 1 or entry.prev_hash != GENESIS_HASH:
                problems.append(f"entry {entry.seq}: does not start the chain")
        elif entry.seq == prev.seq:
            problems.append(f"entry {entry.seq}: a second entry {entry.seq} (position {position}), inserted")
        elif entry.seq < prev.seq:
            problems.append(f"entry {entry.seq}: out of order, comes after entry {prev.seq}")
        elif entry.seq != prev.seq + 1 or entry.prev_hash != prev.hash:
            problems.append(f"entry {entry.seq}: does not follow entry {prev.seq}")
        prev = entry
    if expected_head is not None:
        head = entries[-1].hash if entries else GENESIS_HASH
        if head != expected_head:
            last = entries[-1].seq if entries else 0
            problems.append(f"chain ends at entry {last} whose hash does not match the expected head")
    return problems
