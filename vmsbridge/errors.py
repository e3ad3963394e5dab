"""The exception tree. CLI exit codes are chosen from it (see ``vmsbridge.cli.main``)."""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ConfigProblem",
    "ConnectorError",
    "DatabaseNotReady",
    "NotFound",
    "StoreError",
    "ValidationFailed",
    "ValidationProblem",
    "VmsBridgeError",
]

from collections.abc import Sequence
from dataclasses import dataclass


class VmsBridgeError(Exception):
    """Base of every error vmsbridge raises on purpose."""


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a configuration file, addressed by its key path."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(VmsBridgeError, ValueError):
    """A configuration file (or option) is unusable; carries every problem found, not only the first."""

    def __init__(self, source: str, problems: list[ConfigProblem]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s)\n{lines}")


@dataclass(frozen=True)
class ValidationProblem:
    """One thing wrong with a request to a service, addressed by the domain field it concerns.

    ``field`` is the service's name for the value (its parameter: ``"occurred_to"``, ``"follows"``),
    or ``""`` for the request as a whole. ``reason`` is plain language; where it names other fields
    it uses their domain names and lists them in ``related``, so that a front end can show every
    field its own way (the CLI as its flags) without guessing which words are field names.
    """

    field: str
    reason: str
    related: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {"field": self.field, "reason": self.reason, "related": list(self.related)}

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}" if self.field else self.reason


class ValidationFailed(VmsBridgeError, ValueError):
    """A service refused a request; carries every problem found, not only the first.

    ``subject`` says what was refused as a whole (``"fire log"``, ``"health report"``) when the
    problems are several or not about one field; without it the first problem's field is the
    subject. Not a ConfigError: that is for site files, this is for requests.
    """

    def __init__(self, problems: Sequence[ValidationProblem], subject: str | None = None) -> None:
        if not problems:
            raise ValueError("ValidationFailed needs at least one problem")
        self.problems = tuple(problems)
        self.subject = subject
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{self.title}: {len(self.problems)} problem(s)\n{lines}")

    @property
    def title(self) -> str:
        """The subject, or the field of the first problem when none was given."""
        return self.subject if self.subject is not None else self.problems[0].field

    @property
    def fields(self) -> frozenset[str]:
        return frozenset(p.field for p in self.problems)

    def as_dict(self) -> dict[str, object]:
        """The refusal as a JSON API would return it."""
        return {"subject": self.title, "problems": [p.as_dict() for p in self.problems]}


class StoreError(VmsBridgeError):
    """The database could not do what was asked."""


class DatabaseNotReady(StoreError):
    """The database schema is missing or older than this version of vmsbridge.

    ``url`` is the database (password hidden) and ``state`` what is wrong with it; front ends add
    how to upgrade it in their own terms.
    """

    def __init__(self, url: str, state: str) -> None:
        self.url = url
        self.state = state
        super().__init__(f"database {url} {state}")


class NotFound(VmsBridgeError, LookupError):
    """A record the caller named does not exist."""


class ConnectorError(VmsBridgeError):
    """A device or VMS connector failed."""
