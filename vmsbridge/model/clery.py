"""Clery offense records as the statistics see them: offenses, arrests, persons only by number."""

from __future__ import annotations

__all__ = ["Arrest", "CaseNumber", "CleryRecord", "ImportedRecord", "Offense", "StrictModel"]

from dataclasses import dataclass
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from vmsbridge.model.offenses import ArrestAction, BiasCategory, OffenseCode, Violation

CaseNumber = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$",
        description="letters, digits, '.', '_', '/' or '-'",
    ),
]


class StrictModel(BaseModel):
    # strict: "true" is not a bool and 3 is not a string; a records system that sends those is
    # misconfigured, and guessing would put a wrong number into a federal report.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, str_strip_whitespace=True)


class Offense(StrictModel):
    code: OffenseCode
    attempted: bool = False
    bias: BiasCategory | None = None
    nature: str = Field("", max_length=500, description="the records system's own wording")

    @model_validator(mode="after")
    def _attempt_possible(self) -> Offense:
        if self.attempted and self.code is OffenseCode.NEGLIGENT_MANSLAUGHTER:
            raise ValueError("negligent manslaughter cannot be attempted (it is unintended by definition)")
        return self


class Arrest(StrictModel):
    """An arrest or disciplinary referral as the statistics see it: the person only by number."""

    person: int = Field(ge=1, description="1 for the first person named in the record, and so on")
    violation: Violation
    action: ArrestAction


class CleryRecord(StrictModel):
    case_number: CaseNumber
    reported_at: AwareDatetime
    occurred_from: AwareDatetime | None = None
    occurred_to: AwareDatetime | None = None
    location: str = Field(min_length=1, max_length=64)
    offenses: tuple[Offense, ...] = ()
    arrests: tuple[Arrest, ...] = ()
    unfounded: bool = False
    disposition: str = Field("", max_length=200)


@dataclass(frozen=True)
class ImportedRecord:
    record: CleryRecord
    persons: tuple[str, ...]  # persons[0] is "person #1"; restricted, never printed
