"""Clery offense records from a records-management system: one JSON object per line, checked.

A line either becomes a :class:`ImportedRecord` or a :class:`LineRejection` naming the line, the
field and what is expected; a bad line never stops the good ones around it. Person names (people
arrested or referred) are personal data: they are split off into ``persons`` here, so the record
the statistics see only knows "person #1", "person #2".
"""

from __future__ import annotations

__all__ = [
    "ImportReport",
    "LineRejection",
    "ParsedLines",
    "import_records",
    "parse_lines",
]

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import AwareDatetime, Field, ValidationError, model_validator

from vmsbridge.config import format_path
from vmsbridge.model.clery import Arrest, CaseNumber, CleryRecord, ImportedRecord, Offense, StrictModel
from vmsbridge.model.devicetime import duration_text, to_utc
from vmsbridge.model.events import MAX_CLOCK_LEAD
from vmsbridge.model.offenses import ArrestAction, Violation

if TYPE_CHECKING:
    from vmsbridge.app import Stores
    from vmsbridge.config import SiteConfig


class _ArrestLine(StrictModel):
    person: str = Field(min_length=1, max_length=200, description="the person's name (kept restricted)")
    violation: Violation
    action: ArrestAction


class _RecordLine(StrictModel):
    """A line exactly as the records system sends it."""

    case_number: CaseNumber
    reported_at: AwareDatetime
    occurred_from: AwareDatetime | None = None
    occurred_to: AwareDatetime | None = None
    location: str = Field(min_length=1, max_length=64)
    offenses: list[Offense] = Field(default_factory=list)
    arrests: list[_ArrestLine] = Field(default_factory=list)
    unfounded: bool = False
    disposition: str = Field("", max_length=200)

    @model_validator(mode="after")
    def _consistent(self) -> _RecordLine:
        if self.occurred_from and self.occurred_to and self.occurred_to < self.occurred_from:
            raise ValueError("occurred_to is before occurred_from")
        if not self.offenses and not self.arrests:
            raise ValueError(
                "a record needs at least one offense or arrest (use code 'other' for a log-only crime)"
            )
        return self


@dataclass(frozen=True)
class LineRejection:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class ParsedLines:
    records: list[tuple[int, ImportedRecord]] = field(default_factory=list)
    rejected: list[LineRejection] = field(default_factory=list)


def _person_key(name: str) -> str:
    return " ".join(name.split()).casefold()


def _split_persons(line: _RecordLine) -> ImportedRecord:
    numbers: dict[str, int] = {}
    names: list[str] = []
    arrests: list[Arrest] = []
    for entry in line.arrests:
        key = _person_key(entry.person)
        if key not in numbers:
            names.append(" ".join(entry.person.split()))
            numbers[key] = len(names)
        arrests.append(Arrest(person=numbers[key], violation=entry.violation, action=entry.action))
    record = CleryRecord(
        case_number=line.case_number,
        reported_at=line.reported_at,
        occurred_from=line.occurred_from,
        occurred_to=line.occurred_to,
        location=line.location,
        offenses=tuple(line.offenses),
        arrests=tuple(arrests),
        unfounded=line.unfounded,
        disposition=line.disposition,
    )
    return ImportedRecord(record, tuple(names))


def _reason(err: Any) -> str:
    """What is wrong, naming the field but never repeating the line's value: a records system that
    shifts its columns puts a person's name into any field, a code or a time as well."""
    loc = tuple(err["loc"])
    path = format_path(loc) or "record"
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "json_invalid":
        return f"not valid JSON ({ctx.get('error', err['msg'])})"
    if kind == "missing":
        return f"{path}: required field is missing"
    if kind == "extra_forbidden":
        return f"{path}: unknown field"
    if kind == "string_pattern_mismatch" and loc and loc[-1] == "case_number":
        return f"{path}: expected letters, digits, '.', '_', '/' or '-' (no spaces)"
    if kind in ("enum", "literal_error"):
        return f"{path}: is not one of {ctx.get('expected', '')}"
    if kind == "timezone_aware" or kind.startswith(("datetime_", "date_")):
        return f"{path}: expected an ISO 8601 time with a UTC offset, e.g. 2026-03-01T22:15:00-06:00"
    # pydantic's own messages describe the type or the limit ("Input should be a valid boolean"),
    # never the input.
    return f"{path}: {str(err['msg']).removeprefix('Value error, ')}"


def _time_problems(line: _RecordLine, now: datetime) -> list[str]:
    """Times no records system can mean: out of range in UTC, or ahead of the import (by more than
    a clock may be off). They would sit in no year's statistics and never age out."""
    problems = []
    for name in ("reported_at", "occurred_from", "occurred_to"):
        value: datetime | None = getattr(line, name)
        if value is None:
            continue
        utc = to_utc(value)
        if utc is None:
            problems.append(f"{name}: out of range once converted to UTC")
        elif utc - now > MAX_CLOCK_LEAD:
            problems.append(f"{name}: more than {duration_text(MAX_CLOCK_LEAD)} after the time of import")
    return problems


def parse_lines(
    lines: Iterable[bytes | str], location_ids: Collection[str], now: datetime | None = None
) -> ParsedLines:
    """Check each line (numbered from 1) as of ``now`` (default: now); blank lines are skipped."""
    now = now or datetime.now(UTC)
    parsed = ParsedLines()
    for number, raw in enumerate(lines, start=1):
        if isinstance(raw, bytes):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                parsed.rejected.append(LineRejection(number, f"not UTF-8 text (byte {exc.start})"))
                continue
        else:
            text = raw
        if not text.strip():
            continue
        try:
            line = _RecordLine.model_validate_json(text)
        except ValidationError as exc:
            reasons = "; ".join(_reason(err) for err in exc.errors())
            parsed.rejected.append(LineRejection(number, reasons))
            continue
        if problems := _time_problems(line, now):
            parsed.rejected.append(LineRejection(number, "; ".join(problems)))
            continue
        if line.location not in location_ids:
            parsed.rejected.append(LineRejection(number, "location: is not a location id of the site config"))
            continue
        parsed.records.append((number, _split_persons(line)))
    return parsed


@dataclass(frozen=True)
class ImportReport:
    imported: tuple[str, ...]  # case numbers new to the store
    updated: tuple[str, ...]  # case numbers that replaced a stored record
    rejected: tuple[LineRejection, ...]


async def import_records(
    stores: Stores,
    site: SiteConfig,
    lines: Iterable[bytes | str],
    *,
    source: str,
    actor: str,
    now: datetime | None = None,
) -> ImportReport:
    """Store every good line (upsert by case number) and audit the import; bad lines are reported."""
    now = now or datetime.now(UTC)
    parsed = parse_lines(lines, {loc.id for loc in site.locations}, now)
    # A case number repeated in one file: the later line is the newer state of the record.
    latest: dict[str, ImportedRecord] = {}
    for _, item in parsed.records:
        latest.pop(item.record.case_number, None)
        latest[item.record.case_number] = item
    imported, updated = await stores.clery_records.upsert(
        list(latest.values()),
        source=source,
        rejected=[(r.line, r.reason) for r in parsed.rejected],
        actor=actor,
        now=now,
    )
    return ImportReport(tuple(imported), tuple(updated), tuple(parsed.rejected))
