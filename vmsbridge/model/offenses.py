"""The closed Clery vocabulary: offense codes, bias categories, arrest/referral violations.

Sources (clery.md §1.1-1.2): the primary offenses, the four hate-crime-only offenses, the eight
bias categories, the three VAWA offenses and the liquor/drug/weapons arrest categories; the
Hierarchy Rule's order is the 2016 Handbook's, chapter 3.
"""

from __future__ import annotations

__all__ = [
    "ARREST_SECTIONS",
    "CRIMINAL_OFFENSES",
    "HATE_CRIME_OFFENSES",
    "HATE_ONLY_OFFENSES",
    "HIERARCHY",
    "NEVER_HATE_CRIMES",
    "SEX_OFFENSES",
    "VAWA_OFFENSES",
    "ArrestAction",
    "BiasCategory",
    "Geography",
    "OffenseCode",
    "Section",
    "Violation",
    "hate_category",
    "hierarchy_rank",
]

from enum import StrEnum


class OffenseCode(StrEnum):
    MURDER = "murder"  # murder and non-negligent manslaughter
    NEGLIGENT_MANSLAUGHTER = "negligent_manslaughter"
    RAPE = "rape"
    FONDLING = "fondling"
    INCEST = "incest"
    STATUTORY_RAPE = "statutory_rape"
    ROBBERY = "robbery"
    AGGRAVATED_ASSAULT = "aggravated_assault"
    BURGLARY = "burglary"
    MOTOR_VEHICLE_THEFT = "motor_vehicle_theft"
    ARSON = "arson"
    LARCENY_THEFT = "larceny_theft"
    SIMPLE_ASSAULT = "simple_assault"
    INTIMIDATION = "intimidation"
    VANDALISM = "vandalism"  # destruction/damage/vandalism of property
    DATING_VIOLENCE = "dating_violence"
    DOMESTIC_VIOLENCE = "domestic_violence"
    STALKING = "stalking"
    OTHER = "other"  # a crime the log records that the ASR does not count


class BiasCategory(StrEnum):
    RACE = "race"
    RELIGION = "religion"
    SEXUAL_ORIENTATION = "sexual_orientation"
    GENDER = "gender"
    GENDER_IDENTITY = "gender_identity"
    ETHNICITY = "ethnicity"
    NATIONAL_ORIGIN = "national_origin"
    DISABILITY = "disability"


class Violation(StrEnum):
    LIQUOR = "liquor"
    DRUG = "drug"
    WEAPONS = "weapons"


class ArrestAction(StrEnum):
    ARREST = "arrest"
    REFERRAL = "referral"


class Section(StrEnum):
    """The tables of the Annual Security Report, in the order they are printed."""

    CRIMINAL_OFFENSES = "criminal_offenses"
    VAWA_OFFENSES = "vawa_offenses"
    HATE_CRIMES = "hate_crimes"
    ARRESTS = "arrests"
    DISCIPLINARY_REFERRALS = "disciplinary_referrals"


class Geography(StrEnum):
    """ASR columns; on-campus student housing is a subset of on campus, so both count it."""

    ON_CAMPUS = "on_campus"
    ON_CAMPUS_HOUSING = "on_campus_housing"
    NONCAMPUS = "noncampus"
    PUBLIC_PROPERTY = "public_property"


# The Hierarchy Rule's order, highest first; arson sits outside it (always counted as well).
HIERARCHY: tuple[OffenseCode, ...] = (
    OffenseCode.MURDER,
    OffenseCode.NEGLIGENT_MANSLAUGHTER,
    OffenseCode.RAPE,
    OffenseCode.FONDLING,
    OffenseCode.INCEST,
    OffenseCode.STATUTORY_RAPE,
    OffenseCode.ROBBERY,
    OffenseCode.AGGRAVATED_ASSAULT,
    OffenseCode.BURGLARY,
    OffenseCode.MOTOR_VEHICLE_THEFT,
)
CRIMINAL_OFFENSES: tuple[OffenseCode, ...] = (*HIERARCHY, OffenseCode.ARSON)
SEX_OFFENSES = frozenset(
    {OffenseCode.RAPE, OffenseCode.FONDLING, OffenseCode.INCEST, OffenseCode.STATUTORY_RAPE}
)
VAWA_OFFENSES: tuple[OffenseCode, ...] = (
    OffenseCode.DATING_VIOLENCE,
    OffenseCode.DOMESTIC_VIOLENCE,
    OffenseCode.STALKING,
)
HATE_ONLY_OFFENSES: tuple[OffenseCode, ...] = (
    OffenseCode.LARCENY_THEFT,
    OffenseCode.SIMPLE_ASSAULT,
    OffenseCode.INTIMIDATION,
    OffenseCode.VANDALISM,
)
# Offenses that are never hate crimes even when a bias is recorded.
NEVER_HATE_CRIMES = frozenset({OffenseCode.NEGLIGENT_MANSLAUGHTER, OffenseCode.OTHER, *VAWA_OFFENSES})
HATE_CRIME_OFFENSES: tuple[OffenseCode, ...] = tuple(
    code for code in (*CRIMINAL_OFFENSES, *HATE_ONLY_OFFENSES) if code not in NEVER_HATE_CRIMES
)
ARREST_SECTIONS = {
    ArrestAction.ARREST: Section.ARRESTS,
    ArrestAction.REFERRAL: Section.DISCIPLINARY_REFERRALS,
}

_RANK = {code: rank for rank, code in enumerate(HIERARCHY)}


def hierarchy_rank(code: OffenseCode) -> int | None:
    """0 for the most serious offense; None for offenses outside the Hierarchy Rule."""
    return _RANK.get(code)


def hate_category(code: OffenseCode, bias: BiasCategory) -> str:
    return f"{code.value}:{bias.value}"
