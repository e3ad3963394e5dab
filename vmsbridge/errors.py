"""The exception tree. CLI exit codes are chosen from it (see ``vmsbridge.cli.main``)."""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ConfigProblem",
    "ConnectorError",
    "DatabaseNotReady",
    "NotFound",
    "StoreError",
    "VmsBridgeError",
]

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
