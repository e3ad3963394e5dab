"""ASR statistics rules, one hand-worked case per rule (pure: no database).

Locations of the example campus used here: ``lot-b`` on campus, ``maple-hall`` on-campus student
housing, ``elm-street`` public property, ``boathouse`` noncampus, ``college-ave`` patrol
jurisdiction, ``riverside-mall`` outside. The institution's zone is America/Chicago.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vmsbridge.clery.asr import AsrStatistics, Decision, compute_asr, counting_year, decide
from vmsbridge.clery.asr_report import render_csv, render_html, render_text
from vmsbridge.config import SiteConfig
from vmsbridge.model.clery import Arrest, CleryRecord, Offense
from vmsbridge.model.offenses import ArrestAction, BiasCategory, OffenseCode, Violation

CST = timezone(timedelta(hours=-6))
REPORTED = datetime(2026, 3, 2, 8, 15, tzinfo=CST)
ZONE = "America/Chicago"
ZERO = {"on_campus": 0, "on_campus_housing": 0, "noncampus": 0, "public_property": 0}


def off(code: str, *, bias: str | None = None, attempted: bool = False) -> Offense:
    return Offense(
        code=OffenseCode(code), bias=BiasCategory(bias) if bias else None, attempted=attempted, nature=""
    )


def arrest(person: int, violation: str, action: str) -> Arrest:
    return Arrest(person=person, violation=Violation(violation), action=ArrestAction(action))


def rec(
    *offenses: Offense,
    arrests: Sequence[Arrest] = (),
    location: str = "lot-b",
    reported_at: datetime = REPORTED,
    unfounded: bool = False,
    case: str = "26-0001",
) -> CleryRecord:
    return CleryRecord(
        case_number=case,
        reported_at=reported_at,
        location=location,
        offenses=tuple(offenses),
        arrests=tuple(arrests),
        unfounded=unfounded,
    )


def stats_of(
    site: SiteConfig, *records: CleryRecord, year: int = 2026
) -> tuple[AsrStatistics, list[Decision]]:
    return compute_asr(records, site.locations, ZONE, year)


def cell(stats: AsrStatistics, section: str, category: str, year: int = 2026) -> dict[str, int]:
    return stats.counts[section][category][str(year)]


def nonzero(stats: AsrStatistics) -> dict[tuple[str, str, str], dict[str, int]]:
    """Every cell with a count, so a test can say "this and nothing else"."""
    out = {}
    for section, by_category in stats.counts.items():
        for category, by_year in by_category.items():
            for year, geos in by_year.items():
                if any(geos.values()):
                    out[(section, category, year)] = {g: n for g, n in geos.items() if n}
    return out


def traces(decisions: list[Decision]) -> list[tuple[str, bool, str | None, str | None]]:
    return [(d.item, d.counted, d.section, d.category) for d in decisions]


ON = {"on_campus": 1}


def test_hierarchy_counts_the_most_serious_offense_and_arson_as_well(site: SiteConfig) -> None:
    stats, decisions = stats_of(
        site, rec(off("burglary"), off("robbery"), off("arson"), off("motor_vehicle_theft"))
    )
    assert nonzero(stats) == {
        ("criminal_offenses", "robbery", "2026"): ON,
        ("criminal_offenses", "arson", "2026"): ON,
    }
    assert traces(decisions) == [
        ("offense #1 (burglary)", False, "criminal_offenses", "burglary"),
        ("offense #2 (robbery)", True, "criminal_offenses", "robbery"),
        ("offense #3 (arson)", True, "criminal_offenses", "arson"),
        ("offense #4 (motor_vehicle_theft)", False, "criminal_offenses", "motor_vehicle_theft"),
    ]
    assert decisions[0].rule.startswith("Hierarchy Rule: burglary ranks below robbery")
    assert "arson is always counted" in decisions[2].rule


def test_a_sex_offense_with_a_murder_is_counted_as_well_but_only_the_most_serious_one(
    site: SiteConfig,
) -> None:
    stats, decisions = stats_of(site, rec(off("fondling"), off("murder"), off("rape"), off("robbery")))
    assert nonzero(stats) == {
        ("criminal_offenses", "murder", "2026"): ON,
        ("criminal_offenses", "rape", "2026"): ON,
    }
    fondling, murder, rape, robbery = decisions
    assert "a sex offense and a murder in one incident are both counted" in rape.rule
    assert fondling.rule == "Hierarchy Rule: with a murder only the most serious sex offense is counted"
    assert not robbery.counted
    assert murder.counted


def test_without_a_murder_a_sex_offense_is_just_the_top_of_the_hierarchy(site: SiteConfig) -> None:
    stats, _ = stats_of(site, rec(off("rape"), off("fondling"), off("robbery")))
    assert nonzero(stats) == {("criminal_offenses", "rape", "2026"): ON}


def test_each_murder_victim_counts_but_a_repeated_robbery_counts_once(site: SiteConfig) -> None:
    stats, decisions = stats_of(
        site, rec(off("murder"), off("murder"), case="a"), rec(off("robbery"), off("robbery"), case="b")
    )
    assert cell(stats, "criminal_offenses", "murder")["on_campus"] == 2
    assert cell(stats, "criminal_offenses", "robbery")["on_campus"] == 1
    assert decisions[1].rule == "each murder victim is one offense"
    assert decisions[3].rule == "Hierarchy Rule: robbery is already counted once for this incident"


def test_attempted_murder_counts_as_aggravated_assault_and_other_attempts_as_themselves(
    site: SiteConfig,
) -> None:
    stats, decisions = stats_of(site, rec(off("murder", attempted=True)), rec(off("robbery", attempted=True)))
    assert nonzero(stats) == {
        ("criminal_offenses", "aggravated_assault", "2026"): ON,
        ("criminal_offenses", "robbery", "2026"): ON,
    }
    assert decisions[0].item == "offense #1 (attempted murder)"
    assert decisions[0].rule.startswith("attempted murder counts as aggravated_assault (UCR)")
    assert decisions[1].rule.startswith("an attempted robbery counts as the offense itself")


def test_student_housing_counts_in_on_campus_and_in_housing(site: SiteConfig) -> None:
    stats, decisions = stats_of(
        site,
        rec(off("burglary"), location="maple-hall", case="hall"),
        rec(off("burglary"), location="lot-b", case="lot"),
        rec(off("burglary"), location="boathouse", case="boat"),
        rec(off("burglary"), location="elm-street", case="street"),
    )
    assert cell(stats, "criminal_offenses", "burglary") == {
        "on_campus": 2,
        "on_campus_housing": 1,
        "noncampus": 1,
        "public_property": 1,
    }
    assert decisions[0].geographies == ("on_campus", "on_campus_housing")
    assert "student housing: counted under on_campus and on_campus_housing" in decisions[0].rule


def test_patrol_jurisdiction_and_outside_are_not_counted(site: SiteConfig) -> None:
    stats, decisions = stats_of(
        site,
        rec(off("robbery"), arrests=[arrest(1, "drug", "arrest")], location="college-ave", case="a"),
        rec(off("robbery"), location="riverside-mall", case="b"),
    )
    assert nonzero(stats) == {}
    assert [d.counted for d in decisions] == [False, False, False]
    assert "'college-ave' is patrol_jurisdiction: crime log only" in decisions[0].rule
    assert "'riverside-mall' is outside" in decisions[2].rule


def test_the_year_is_the_calendar_year_reported_in_the_institutions_zone(site: SiteConfig) -> None:
    # Occurred on New Year's Eve, reported 00:30 on 1 January (Chicago): a 2026 statistic.
    after_midnight = rec(
        off("robbery"), reported_at=datetime(2026, 1, 1, 0, 30, tzinfo=CST), case="a"
    ).model_copy(
        update={
            "occurred_from": datetime(2025, 12, 31, 23, 0, tzinfo=CST),
            "occurred_to": datetime(2025, 12, 31, 23, 45, tzinfo=CST),
        }
    )
    # 23:30 on 31 December in Chicago is already 2026 in UTC, and still a 2025 statistic.
    before_midnight = rec(off("burglary"), reported_at=datetime(2026, 1, 1, 5, 30, tzinfo=UTC), case="b")
    stats, decisions = stats_of(site, after_midnight, before_midnight)
    assert [d.year for d in decisions] == [2026, 2025]
    assert cell(stats, "criminal_offenses", "robbery", 2026)["on_campus"] == 1
    assert cell(stats, "criminal_offenses", "robbery", 2025)["on_campus"] == 0  # not the year it occurred
    assert cell(stats, "criminal_offenses", "burglary", 2025)["on_campus"] == 1
    assert cell(stats, "criminal_offenses", "burglary", 2026)["on_campus"] == 0


def test_years_outside_the_three_year_window_are_left_out(site: SiteConfig) -> None:
    old = rec(off("robbery"), reported_at=datetime(2023, 12, 31, 12, 0, tzinfo=CST), unfounded=False)
    stats, decisions = stats_of(site, old)
    assert stats.years == (2024, 2025, 2026)
    assert nonzero(stats) == {}
    assert decisions[0].counted  # it is counted, in its own year's report
    assert compute_asr([old], site.locations, ZONE, 2024)[0].counts["criminal_offenses"]["robbery"][
        "2023"
    ] == {
        **ZERO,
        "on_campus": 1,
    }


def test_unfounded_records_are_counted_only_as_unfounded(site: SiteConfig) -> None:
    unfounded = rec(off("robbery", bias="race"), arrests=[arrest(1, "drug", "arrest")], unfounded=True)
    stats, decisions = stats_of(site, unfounded)
    assert nonzero(stats) == {}
    assert stats.unfounded == {"2024": 0, "2025": 0, "2026": 1}
    assert traces(decisions) == [
        ("record", True, "unfounded", None),
        ("offense #1 (robbery)", False, None, None),
        ("person #1 drug arrest", False, None, None),
    ]
    assert decisions[1].rule == "the record is unfounded: it leaves the statistics"


def test_hate_crime_only_offenses_count_only_with_a_bias(site: SiteConfig) -> None:
    stats, decisions = stats_of(
        site,
        rec(off("vandalism"), off("larceny_theft"), case="plain"),
        rec(
            off("vandalism", bias="religion"), off("simple_assault", bias="sexual_orientation"), case="biased"
        ),
    )
    assert nonzero(stats) == {
        ("hate_crimes", "vandalism:religion", "2026"): ON,
        ("hate_crimes", "simple_assault:sexual_orientation", "2026"): ON,
    }
    assert decisions[0].rule == "vandalism counts only as a hate crime, and no bias was recorded"
    assert (decisions[0].counted, decisions[0].section) == (False, "hate_crimes")
    assert "a hate crime, counted regardless of the Hierarchy Rule" in decisions[2].rule


def test_a_biased_primary_offense_is_a_hate_crime_even_below_the_hierarchy(site: SiteConfig) -> None:
    stats, decisions = stats_of(site, rec(off("robbery"), off("burglary", bias="race")))
    assert nonzero(stats) == {
        ("criminal_offenses", "robbery", "2026"): ON,
        ("hate_crimes", "burglary:race", "2026"): ON,
    }
    assert traces(decisions) == [
        ("offense #1 (robbery)", True, "criminal_offenses", "robbery"),
        ("offense #2 (burglary)", False, "criminal_offenses", "burglary"),
        ("offense #2 (burglary)", True, "hate_crimes", "burglary:race"),
    ]


def test_negligent_manslaughter_vawa_offenses_and_other_are_never_hate_crimes(site: SiteConfig) -> None:
    stats, decisions = stats_of(
        site,
        rec(
            off("negligent_manslaughter", bias="race"),
            off("stalking", bias="gender"),
            off("other", bias="race"),
        ),
    )
    assert nonzero(stats) == {
        ("criminal_offenses", "negligent_manslaughter", "2026"): ON,
        ("vawa_offenses", "stalking", "2026"): ON,
    }
    refused = [d for d in decisions if not d.counted]
    assert [d.rule for d in refused] == [
        "a race bias was recorded, but negligent_manslaughter is not a hate-crime category (clery.md §1.1)",
        "a gender bias was recorded, but stalking is not a hate-crime category (clery.md §1.1)",
        "not a Clery offense; crime log only",  # one trace for 'other', bias or not
    ]


def test_a_vawa_offense_counts_alongside_the_primary_offense(site: SiteConfig) -> None:
    stats, decisions = stats_of(
        site, rec(off("aggravated_assault"), off("dating_violence"), location="maple-hall")
    )
    both = {"on_campus": 1, "on_campus_housing": 1}
    assert nonzero(stats) == {
        ("criminal_offenses", "aggravated_assault", "2026"): both,
        ("vawa_offenses", "dating_violence", "2026"): both,
    }
    assert "in addition to any primary offense" in decisions[1].rule


def test_other_is_never_counted(site: SiteConfig) -> None:
    stats, [decision] = stats_of(site, rec(off("other")))
    assert nonzero(stats) == {}
    assert (decision.counted, decision.rule) == (False, "not a Clery offense; crime log only")


def test_an_arrest_suppresses_a_referral_of_the_same_person_for_the_same_violation(site: SiteConfig) -> None:
    record = rec(
        arrests=[
            arrest(1, "drug", "arrest"),
            arrest(1, "drug", "referral"),  # suppressed by the arrest above
            arrest(1, "liquor", "referral"),  # another violation: counted
            arrest(2, "drug", "referral"),  # another person: counted
            arrest(2, "drug", "referral"),  # the same person and violation twice: once
            arrest(3, "weapons", "arrest"),
        ]
    )
    stats, decisions = stats_of(site, record)
    assert nonzero(stats) == {
        ("arrests", "drug", "2026"): ON,
        ("arrests", "weapons", "2026"): ON,
        ("disciplinary_referrals", "liquor", "2026"): ON,
        ("disciplinary_referrals", "drug", "2026"): ON,
    }
    assert [d.counted for d in decisions] == [True, False, True, True, False, True]
    assert decisions[1].rule == (
        "person #1 was also arrested for this drug violation in this record: the arrest suppresses "
        "the referral (clery.md §1.2)"
    )
    assert decisions[4].rule == "already counted: one count per person and violation in a record"


def test_the_json_shape_has_every_section_category_year_and_geography(site: SiteConfig) -> None:
    stats, _ = stats_of(site)
    shape: dict[str, Any] = stats.as_json()
    assert shape["years"] == ["2024", "2025", "2026"]
    assert shape["unfounded"] == {"2024": 0, "2025": 0, "2026": 0}
    counts = shape["counts"]
    assert list(counts) == [
        "criminal_offenses",
        "vawa_offenses",
        "hate_crimes",
        "arrests",
        "disciplinary_referrals",
    ]
    assert len(counts["criminal_offenses"]) == 11
    assert list(counts["vawa_offenses"]) == ["dating_violence", "domestic_violence", "stalking"]
    # 9 primary offenses that can be hate crimes + arson + 4 hate-only, times 8 biases
    assert len(counts["hate_crimes"]) == 14 * 8
    assert "negligent_manslaughter:race" not in counts["hate_crimes"]
    assert list(counts["arrests"]) == ["liquor", "drug", "weapons"]
    for by_category in counts.values():
        for by_year in by_category.values():
            assert list(by_year) == ["2024", "2025", "2026"]
            assert all(geos == ZERO for geos in by_year.values())


def test_reports_show_the_same_numbers_and_escape_text(site: SiteConfig) -> None:
    stats, _ = stats_of(
        site,
        rec(off("robbery"), location="maple-hall", case="a"),
        rec(off("vandalism", bias="race"), case="b"),
        rec(off("robbery"), unfounded=True, case="c"),
    )
    rows = list(csv.reader(io.StringIO(render_csv(stats))))
    assert rows[0] == ["section", "category", "geography", "2024", "2025", "2026"]
    assert ["criminal_offenses", "robbery", "on_campus_housing", "0", "0", "1"] in rows
    assert ["hate_crimes", "vandalism:race", "on_campus", "0", "0", "1"] in rows
    assert rows[-1] == ["unfounded", "records", "all", "0", "0", "1"]
    assert len(rows) == 1 + (11 + 3 + 112 + 3 + 3) * 4 + 1

    page = render_html(stats, "Northfield <College> & Sons")
    assert (
        "<title>Northfield &lt;College&gt; &amp; Sons: Annual Security Report statistics 2024-2026</title>"
        in page
    )
    assert "<College>" not in page
    assert page.count("<table") == 6  # five sections and the unfounded table
    assert '<th colspan="4" scope="colgroup">2026</th>' in page
    assert "Destruction/damage/vandalism of property (bias: race)" in page
    assert "(bias: religion)" not in page  # hate crime rows without a count are not listed

    text = render_text(stats, "Northfield College")
    robbery = next(line for line in text.splitlines() if line.startswith("Robbery"))
    assert robbery.split()[1:] == ["0"] * 8 + ["1", "1", "0", "0"]
    assert "2024: 0  2025: 0  2026: 1" in text


# -- property: whatever the records, counts are never negative and housing never exceeds on campus

codes = st.sampled_from(list(OffenseCode))
biases = st.none() | st.sampled_from(list(BiasCategory))
offenses = st.builds(
    lambda code, bias, attempted: Offense(
        code=code,
        bias=bias,
        attempted=attempted and code is not OffenseCode.NEGLIGENT_MANSLAUGHTER,
        nature="",
    ),
    codes,
    biases,
    st.booleans(),
)
arrests = st.builds(
    lambda person, violation, action: Arrest(person=person, violation=violation, action=action),
    st.integers(1, 3),
    st.sampled_from(list(Violation)),
    st.sampled_from(list(ArrestAction)),
)
records = st.builds(
    lambda n, offs, arrs, location, days, unfounded: CleryRecord(
        case_number=f"c{n}",
        reported_at=datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=days),
        location=location,
        offenses=tuple(offs),
        arrests=tuple(arrs),
        unfounded=unfounded,
    ),
    st.integers(0, 10_000),
    st.lists(offenses, max_size=6),
    st.lists(arrests, max_size=4),
    st.sampled_from(
        ["quad", "maple-hall", "lot-b", "elm-street", "boathouse", "college-ave", "riverside-mall"]
    ),
    st.integers(0, 3 * 366),
    st.booleans(),
)


# A case number is unique in the records store (a re-import replaces the record), so a batch holds each once.
@given(st.lists(records, max_size=12, unique_by=lambda r: r.case_number))
def test_counts_are_never_negative_and_housing_never_exceeds_on_campus(
    site: SiteConfig, batch: list[CleryRecord]
) -> None:
    stats, decisions = compute_asr(batch, site.locations, ZONE, 2026)
    total_in_table = 0
    for by_category in stats.counts.values():
        for by_year in by_category.values():
            for geos in by_year.values():
                assert all(n >= 0 for n in geos.values())
                assert geos["on_campus_housing"] <= geos["on_campus"]
                total_in_table += geos["on_campus"] + geos["noncampus"] + geos["public_property"]
    # Every counted item lands in exactly one of on_campus / noncampus / public_property.
    in_window = [d for d in decisions if d.counted and d.section != "unfounded" and d.year in stats.years]
    assert total_in_table == len(in_window)
    unfounded_in_window = [r for r in batch if r.unfounded and counting_year(r, ZONE) in stats.years]
    assert sum(stats.unfounded.values()) == len(unfounded_in_window)
    for record in batch:
        if record.unfounded:
            assert not any(
                d.counted and d.section != "unfounded"
                for d in decisions
                if d.case_number == record.case_number
            )


def test_decide_names_a_location_missing_from_the_config(site: SiteConfig) -> None:
    [decision] = decide(
        rec(off("robbery"), location="gone-hall"), {loc.id: loc for loc in site.locations}, ZONE
    )
    assert not decision.counted
    assert decision.rule == "location 'gone-hall' is not in the site config; fix the config or the record"


@pytest.mark.parametrize("code", ["larceny_theft", "simple_assault", "intimidation", "vandalism"])
def test_each_hate_crime_only_offense_counts_in_hate_crimes_alone(site: SiteConfig, code: str) -> None:
    stats, _ = stats_of(site, rec(off(code, bias="disability"), location="elm-street"))
    assert nonzero(stats) == {("hate_crimes", f"{code}:disability", "2026"): {"public_property": 1}}
