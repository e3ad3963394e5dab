"""Annual Security Report statistics from Clery records: pure, no database, every decision traced.

Each offense and each arrest or referral of a record becomes one or two :class:`Decision` s
(counted or not, where, and the rule that decided it); :func:`tabulate` adds the counted ones up.
The rules, with their sources in clery.md:

- year: the calendar year the crime was *reported*, in the institution's time zone (§1.4);
- unfounded records count only in the unfounded total, nothing else (§1.4);
- geography from the site's location: on campus, its student-housing subset (counted in both),
  noncampus, public property; patrol jurisdiction and outside are crime-log only (§1.3);
- Hierarchy Rule among the primary offenses: only the most serious counts, except that arson is
  always counted too, and a sex offense with a murder is counted as well as the murder; each
  murder victim is one offense; attempts count as the offense, attempted murder as aggravated
  assault (UCR) (§1.1-1.2, 2016 Handbook ch. 3);
- VAWA offenses, hate crimes and arrests/referrals sit outside the hierarchy; larceny-theft,
  simple assault, intimidation and vandalism count only as hate crimes, and only with a bias (§1.1);
- arrests and referrals count people: one per person and violation in a record, and an arrest
  suppresses a referral of the same person for the same violation (§1.2, medium confidence).
"""

from __future__ import annotations

__all__ = [
    "UNFOUNDED",
    "AsrStatistics",
    "Decision",
    "categories",
    "compute_asr",
    "counting_year",
    "decide",
    "report_years",
    "tabulate",
]

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from vmsbridge.config import Location
from vmsbridge.model import CleryGeography
from vmsbridge.model.clery import CleryRecord, Offense
from vmsbridge.model.offenses import (
    ARREST_SECTIONS,
    CRIMINAL_OFFENSES,
    HATE_CRIME_OFFENSES,
    HATE_ONLY_OFFENSES,
    HIERARCHY,
    NEVER_HATE_CRIMES,
    SEX_OFFENSES,
    VAWA_OFFENSES,
    ArrestAction,
    BiasCategory,
    Geography,
    OffenseCode,
    Section,
    Violation,
    hate_category,
    hierarchy_rank,
)

UNFOUNDED = "unfounded"
Counts = dict[str, dict[str, dict[str, dict[str, int]]]]


@dataclass(frozen=True)
class Decision:
    """Whether one item of a record counts in the ASR, where, and the rule that decided it."""

    case_number: str
    item: str  # "offense #2 (robbery)", "person #1 drug arrest", "record"
    counted: bool
    section: str | None  # a Section value, UNFOUNDED, or None when no table is concerned
    category: str | None
    year: int
    geographies: tuple[str, ...]
    rule: str

    def as_json(self) -> dict[str, object]:
        return {
            "case_number": self.case_number,
            "item": self.item,
            "counted": self.counted,
            "section": self.section,
            "category": self.category,
            "year": self.year,
            "geographies": list(self.geographies),
            "rule": self.rule,
        }


@dataclass(frozen=True)
class AsrStatistics:
    years: tuple[int, int, int]
    counts: Counts  # section -> category -> "YEAR" -> geography -> n
    unfounded: dict[str, int]  # "YEAR" -> records

    def as_json(self) -> dict[str, object]:
        return {"years": [str(y) for y in self.years], "counts": self.counts, "unfounded": self.unfounded}


def report_years(year: int) -> tuple[int, int, int]:
    """An ASR shows the three most recent calendar years (clery.md §1.4)."""
    return (year - 2, year - 1, year)


def categories(section: Section) -> tuple[str, ...]:
    if section is Section.CRIMINAL_OFFENSES:
        return tuple(c.value for c in CRIMINAL_OFFENSES)
    if section is Section.VAWA_OFFENSES:
        return tuple(c.value for c in VAWA_OFFENSES)
    if section is Section.HATE_CRIMES:
        return tuple(hate_category(c, b) for c in HATE_CRIME_OFFENSES for b in BiasCategory)
    return tuple(v.value for v in Violation)


def counting_year(record: CleryRecord, timezone: str) -> int:
    """The calendar year of the report in the institution's zone: 31 Dec 23:30 local is that year."""
    return record.reported_at.astimezone(ZoneInfo(timezone)).year


def _geographies(location: Location) -> tuple[str, ...]:
    geo = location.clery_geography
    if geo is CleryGeography.ON_CAMPUS:
        if location.student_housing:
            return (Geography.ON_CAMPUS.value, Geography.ON_CAMPUS_HOUSING.value)
        return (Geography.ON_CAMPUS.value,)
    if geo is CleryGeography.NONCAMPUS:
        return (Geography.NONCAMPUS.value,)
    if geo is CleryGeography.PUBLIC_PROPERTY:
        return (Geography.PUBLIC_PROPERTY.value,)
    return ()


def _effective(offense: Offense) -> tuple[OffenseCode, str]:
    """The code an offense counts as, and a note on an attempt."""
    if not offense.attempted:
        return offense.code, ""
    if offense.code is OffenseCode.MURDER:
        return OffenseCode.AGGRAVATED_ASSAULT, "attempted murder counts as aggravated_assault (UCR); "
    return offense.code, f"an attempted {offense.code.value} counts as the offense itself; "


def _offense_label(number: int, offense: Offense) -> str:
    attempt = "attempted " if offense.attempted else ""
    return f"offense #{number} ({attempt}{offense.code.value})"


def _hierarchy_choice(effective: Sequence[OffenseCode]) -> dict[int, str]:
    """Indexes of the primary offenses the Hierarchy Rule counts, each with its reason."""
    ranked = [(rank, i) for i, code in enumerate(effective) if (rank := hierarchy_rank(code)) is not None]
    if not ranked:
        return {}
    top_rank, top_index = min(ranked)
    top = HIERARCHY[top_rank]
    several = len(ranked) > 1
    lead = "the most serious primary offense in the incident" if several else "the only primary offense"
    chosen = {top_index: f"Hierarchy Rule: {lead}"}
    if top is OffenseCode.MURDER:
        for i, code in enumerate(effective):
            if code is OffenseCode.MURDER and i != top_index:
                chosen[i] = "each murder victim is one offense"
        sex = [(rank, i) for rank, i in ranked if HIERARCHY[rank] in SEX_OFFENSES]
        if sex:
            chosen[min(sex)[1]] = (
                "Hierarchy Rule exception: a sex offense and a murder in one incident are both counted "
                "(the most serious sex offense)"
            )
    return chosen


def _hierarchy_refusal(code: OffenseCode, effective: Sequence[OffenseCode], chosen: Mapping[int, str]) -> str:
    counted = [effective[i] for i in sorted(chosen)]
    top = min(counted, key=lambda c: hierarchy_rank(c) or 0)
    if code in counted:
        return f"Hierarchy Rule: {code.value} is already counted once for this incident"
    if code in SEX_OFFENSES and top is OffenseCode.MURDER:
        return "Hierarchy Rule: with a murder only the most serious sex offense is counted"
    return (
        f"Hierarchy Rule: {code.value} ranks below {top.value} in the same incident; "
        "only the most serious is counted"
    )


def _geography_refusal(record: CleryRecord, location: Location | None) -> str | None:
    if location is None:
        return f"location {record.location!r} is not in the site config; fix the config or the record"
    if not _geographies(location):
        return (
            f"location {location.id!r} is {location.clery_geography.value}: "
            "crime log only, not counted in the ASR (clery.md §1.3)"
        )
    return None


def decide(record: CleryRecord, locations: Mapping[str, Location], timezone: str) -> list[Decision]:
    """Every counted/not-counted decision for one record, in the order of its offenses and arrests."""
    year = counting_year(record, timezone)
    location = locations.get(record.location)
    geographies = _geographies(location) if location else ()
    housing = (
        "; student housing: counted under on_campus and on_campus_housing"
        if Geography.ON_CAMPUS_HOUSING.value in geographies
        else ""
    )
    out: list[Decision] = []

    def add(item: str, counted: bool, section: str | None, category: str | None, rule: str) -> None:
        where = geographies if counted and section != UNFOUNDED else ()
        tail = housing if where else ""
        out.append(Decision(record.case_number, item, counted, section, category, year, where, rule + tail))

    arrest_labels = [f"person #{a.person} {a.violation.value} {a.action.value}" for a in record.arrests]
    offense_labels = [_offense_label(n, o) for n, o in enumerate(record.offenses, start=1)]

    if record.unfounded:
        add(
            "record",
            True,
            UNFOUNDED,
            None,
            f"unfounded by law enforcement: counted only in the unfounded total for {year} (clery.md §1.4)",
        )
        for label in (*offense_labels, *arrest_labels):
            add(label, False, None, None, "the record is unfounded: it leaves the statistics")
        return out

    refusal = _geography_refusal(record, location)
    if refusal is not None:
        for label in (*offense_labels, *arrest_labels):
            add(label, False, None, None, refusal)
        return out

    effective = [_effective(o) for o in record.offenses]
    codes = [code for code, _ in effective]
    chosen = _hierarchy_choice(codes)
    for i, (offense, label) in enumerate(zip(record.offenses, offense_labels, strict=True)):
        code, attempt = effective[i]
        if code is OffenseCode.OTHER:
            add(label, False, None, None, "not a Clery offense; crime log only")
            continue
        if code in VAWA_OFFENSES:
            add(
                label,
                True,
                Section.VAWA_OFFENSES,
                code.value,
                f"{attempt}VAWA offense: counted outside the Hierarchy Rule, "
                "in addition to any primary offense (clery.md §1.2)",
            )
        elif code is OffenseCode.ARSON:
            add(
                label,
                True,
                Section.CRIMINAL_OFFENSES,
                code.value,
                f"{attempt}arson is always counted, in addition to the most serious other offense "
                "(Hierarchy Rule exception)",
            )
        elif code in HATE_ONLY_OFFENSES:
            if offense.bias is None:
                add(
                    label,
                    False,
                    Section.HATE_CRIMES,
                    None,
                    f"{code.value} counts only as a hate crime, and no bias was recorded",
                )
        elif i in chosen:
            add(label, True, Section.CRIMINAL_OFFENSES, code.value, attempt + chosen[i])
        else:
            add(
                label,
                False,
                Section.CRIMINAL_OFFENSES,
                code.value,
                attempt + _hierarchy_refusal(code, codes, chosen),
            )
        if offense.bias is not None:
            if code in NEVER_HATE_CRIMES:
                add(
                    label,
                    False,
                    Section.HATE_CRIMES,
                    None,
                    f"a {offense.bias.value} bias was recorded, but {code.value} is not a hate-crime "
                    "category (clery.md §1.1)",
                )
            else:
                add(
                    label,
                    True,
                    Section.HATE_CRIMES,
                    hate_category(code, offense.bias),
                    f"{attempt}{code.value} motivated by {offense.bias.value} bias: a hate crime, "
                    "counted regardless of the Hierarchy Rule",
                )

    arrested = {(a.person, a.violation) for a in record.arrests if a.action is ArrestAction.ARREST}
    seen: set[tuple[int, Violation, ArrestAction]] = set()
    for arrest, label in zip(record.arrests, arrest_labels, strict=True):
        section = ARREST_SECTIONS[arrest.action]
        key = (arrest.person, arrest.violation, arrest.action)
        if key in seen:
            add(
                label,
                False,
                section,
                arrest.violation.value,
                "already counted: one count per person and violation in a record",
            )
        elif arrest.action is ArrestAction.REFERRAL and (arrest.person, arrest.violation) in arrested:
            add(
                label,
                False,
                section,
                arrest.violation.value,
                f"person #{arrest.person} was also arrested for this {arrest.violation.value} violation "
                "in this record: the arrest suppresses the referral (clery.md §1.2)",
            )
        else:
            done = "arrested" if arrest.action is ArrestAction.ARREST else "referred for discipline"
            add(
                label,
                True,
                section,
                arrest.violation.value,
                f"counts people: person #{arrest.person} {done} for a {arrest.violation.value} violation",
            )
        seen.add(key)
    return out


def _empty(years: Sequence[int]) -> Counts:
    return {
        section.value: {
            category: {str(y): {g.value: 0 for g in Geography} for y in years}
            for category in categories(section)
        }
        for section in Section
    }


def tabulate(decisions: Iterable[Decision], years: tuple[int, int, int]) -> AsrStatistics:
    counts = _empty(years)
    unfounded = {str(y): 0 for y in years}
    for d in decisions:
        if not d.counted or d.year not in years:
            continue
        if d.section == UNFOUNDED:
            unfounded[str(d.year)] += 1
            continue
        assert d.section is not None
        assert d.category is not None
        cell = counts[d.section][d.category][str(d.year)]
        for geography in d.geographies:
            cell[geography] += 1
    return AsrStatistics(years, counts, unfounded)


def compute_asr(
    records: Iterable[CleryRecord], locations: Iterable[Location], timezone: str, year: int
) -> tuple[AsrStatistics, list[Decision]]:
    """The statistics of the report for ``year`` (and the two before it), with every decision."""
    by_id = {loc.id: loc for loc in locations}
    decisions = [d for record in records for d in decide(record, by_id, timezone)]
    return tabulate(decisions, report_years(year)), decisions
