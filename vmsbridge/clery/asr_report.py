"""The ASR statistics as people read them: HTML (one table per section), CSV and plain text.

Every renderer shows the same numbers as ``AsrStatistics.as_json``; only the layout differs. Hate
crimes have 112 possible rows (offense x bias); the HTML and text tables list the rows with a
count and say so, the CSV keeps every row for spreadsheets.
"""

from __future__ import annotations

__all__ = ["category_label", "render_csv", "render_html", "render_text"]

import csv
import io
from html import escape

from vmsbridge.clery.asr import AsrStatistics
from vmsbridge.model.offenses import BiasCategory, Geography, OffenseCode, Section, Violation

SECTION_TITLES = {
    Section.CRIMINAL_OFFENSES: "Criminal offenses",
    Section.VAWA_OFFENSES: "VAWA offenses",
    Section.HATE_CRIMES: "Hate crimes",
    Section.ARRESTS: "Arrests",
    Section.DISCIPLINARY_REFERRALS: "Disciplinary referrals",
}
GEOGRAPHY_TITLES = {
    Geography.ON_CAMPUS: "On campus",
    Geography.ON_CAMPUS_HOUSING: "On-campus student housing",
    Geography.NONCAMPUS: "Noncampus",
    Geography.PUBLIC_PROPERTY: "Public property",
}
_OFFENSE_LABELS = {
    OffenseCode.MURDER: "Murder/non-negligent manslaughter",
    OffenseCode.NEGLIGENT_MANSLAUGHTER: "Manslaughter by negligence",
    OffenseCode.RAPE: "Rape",
    OffenseCode.FONDLING: "Fondling",
    OffenseCode.INCEST: "Incest",
    OffenseCode.STATUTORY_RAPE: "Statutory rape",
    OffenseCode.ROBBERY: "Robbery",
    OffenseCode.AGGRAVATED_ASSAULT: "Aggravated assault",
    OffenseCode.BURGLARY: "Burglary",
    OffenseCode.MOTOR_VEHICLE_THEFT: "Motor vehicle theft",
    OffenseCode.ARSON: "Arson",
    OffenseCode.LARCENY_THEFT: "Larceny-theft",
    OffenseCode.SIMPLE_ASSAULT: "Simple assault",
    OffenseCode.INTIMIDATION: "Intimidation",
    OffenseCode.VANDALISM: "Destruction/damage/vandalism of property",
    OffenseCode.DATING_VIOLENCE: "Dating violence",
    OffenseCode.DOMESTIC_VIOLENCE: "Domestic violence",
    OffenseCode.STALKING: "Stalking",
    OffenseCode.OTHER: "Other",
}
_VIOLATION_LABELS = {
    Violation.LIQUOR: "Liquor law violations",
    Violation.DRUG: "Drug law violations",
    Violation.WEAPONS: "Weapons: carrying, possessing, etc.",
}


def category_label(category: str) -> str:
    """``"robbery"`` -> ``"Robbery"``; ``"vandalism:race"`` -> ``"Destruction/... (bias: race)"``."""
    code, _, bias = category.partition(":")
    if bias:
        return f"{_OFFENSE_LABELS[OffenseCode(code)]} (bias: {BiasCategory(bias).value.replace('_', ' ')})"
    if code in {v.value for v in Violation}:
        return _VIOLATION_LABELS[Violation(code)]
    return _OFFENSE_LABELS[OffenseCode(code)]


def _rows(stats: AsrStatistics, section: Section, *, all_rows: bool) -> list[tuple[str, list[int]]]:
    """(category, 12 counts: year by year, geography by geography); hate crimes without a count
    are left out unless ``all_rows``."""
    rows = []
    for category, by_year in stats.counts[section.value].items():
        cells = [by_year[str(y)][g.value] for y in stats.years for g in Geography]
        if all_rows or section is not Section.HATE_CRIMES or any(cells):
            rows.append((category, cells))
    return rows


def render_csv(stats: AsrStatistics) -> str:
    """One row per section, category and geography, with a column per year (and unfounded at the end)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["section", "category", "geography", *(str(y) for y in stats.years)])
    for section in Section:
        for category, by_year in stats.counts[section.value].items():
            for geography in Geography:
                counts = [by_year[str(y)][geography.value] for y in stats.years]
                writer.writerow([section.value, category, geography.value, *counts])
    writer.writerow(["unfounded", "records", "all", *(stats.unfounded[str(y)] for y in stats.years)])
    return out.getvalue()


def render_text(stats: AsrStatistics, institution: str) -> str:
    short = {Geography.ON_CAMPUS: "OnC", Geography.ON_CAMPUS_HOUSING: "Hsg"}
    short |= {Geography.NONCAMPUS: "Non", Geography.PUBLIC_PROPERTY: "Pub"}
    shown = {section: _rows(stats, section, all_rows=False) for section in Section}
    width = 2 + max((len(category_label(c)) for rows in shown.values() for c, _ in rows), default=20)
    years = "".join(f"{y:^20}" for y in stats.years)
    geos = "".join(f"{short[g]:>5}" for g in Geography) * len(stats.years)
    lines = [f"{institution}: Annual Security Report statistics {stats.years[0]}-{stats.years[-1]}"]
    lines.append(
        "OnC on campus, Hsg on-campus student housing (also in OnC), Non noncampus, Pub public property"
    )
    for section in Section:
        lines += ["", SECTION_TITLES[section], f"{'':<{width}}{years}", f"{'':<{width}}{geos}"]
        rows = shown[section]
        for category, cells in rows:
            lines.append(f"{category_label(category):<{width}}" + "".join(f"{n:>5}" for n in cells))
        if not rows:
            lines.append("  none reported in these years")
    unfounded = "  ".join(f"{y}: {stats.unfounded[str(y)]}" for y in stats.years)
    lines += ["", f"Unfounded reports (removed from the statistics): {unfounded}"]
    return "\n".join(lines) + "\n"


_STYLE = """\
body { font-family: system-ui, sans-serif; margin: 2em; color: #111; }
table { border-collapse: collapse; margin: 0.5em 0 2em; }
th, td { border: 1px solid #999; padding: 0.25em 0.5em; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
thead th { background: #eee; }
caption { text-align: left; font-weight: bold; font-size: 1.1em; padding-bottom: 0.3em; }
p.note { color: #444; max-width: 60em; }
"""


def _html_table(stats: AsrStatistics, section: Section) -> list[str]:
    rows = _rows(stats, section, all_rows=False)
    head_years = "".join(f'<th colspan="{len(Geography)}" scope="colgroup">{y}</th>' for y in stats.years)
    head_geos = "".join(f'<th scope="col">{escape(GEOGRAPHY_TITLES[g])}</th>' for g in Geography) * len(
        stats.years
    )
    out = [
        f'<table id="{escape(section.value)}">',
        f"<caption>{escape(SECTION_TITLES[section])}</caption>",
        "<thead>",
        f'<tr><th rowspan="2" scope="col">Category</th>{head_years}</tr>',
        f"<tr>{head_geos}</tr>",
        "</thead>",
        "<tbody>",
    ]
    for category, cells in rows:
        numbers = "".join(f'<td class="n">{n}</td>' for n in cells)
        out.append(f'<tr><th scope="row">{escape(category_label(category))}</th>{numbers}</tr>')
    if not rows:
        span = 1 + len(Geography) * len(stats.years)
        out.append(f'<tr><td colspan="{span}">None reported in these years.</td></tr>')
    out += ["</tbody>", "</table>"]
    if section is Section.HATE_CRIMES and rows:
        out.append('<p class="note">Offense and bias combinations with no hate crime are not listed.</p>')
    return out


def render_html(stats: AsrStatistics, institution: str) -> str:
    """A standalone page: one table per section, years as column groups, geographies as columns."""
    first, last = stats.years[0], stats.years[-1]
    title = f"{institution}: Annual Security Report statistics {first}-{last}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{escape(title)}</title>",
        f"<style>\n{_STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>{escape(title)}</h1>",
        '<p class="note">Crimes are counted in the calendar year they were reported. On-campus '
        "student housing is part of On campus and is counted in both columns. Only the most serious "
        "offense of an incident is counted (Hierarchy Rule), except arson, and a sex offense together "
        "with a murder; VAWA offenses, hate crimes, arrests and disciplinary referrals are counted in "
        "addition. Arrests and referrals count people.</p>",
    ]
    for section in Section:
        parts += _html_table(stats, section)
    unfounded = "".join(f'<td class="n">{stats.unfounded[str(y)]}</td>' for y in stats.years)
    parts += [
        '<table id="unfounded">',
        "<caption>Unfounded reports (removed from the statistics above)</caption>",
        '<thead><tr><th scope="col"></th>'
        + "".join(f'<th scope="col">{y}</th>' for y in stats.years)
        + "</tr></thead>",
        f'<tbody><tr><th scope="row">Unfounded</th>{unfounded}</tr></tbody>',
        "</table>",
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"
