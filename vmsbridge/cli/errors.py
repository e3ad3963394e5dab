"""Service errors in the command line's words: a domain field becomes the flag that set it.

Services name what is wrong by field (``ValidationProblem("occurred_to", ...)``). The flag for a
field comes from the parser that ran: the option whose ``dest`` is the field, or, where the two
names differ (``--incident`` sets ``incident``, the service calls it ``incident_id``), the
subcommand's ``set_defaults(field_flags={"incident_id": "--incident"})``. A field with no flag
is shown by its own name.
"""

from __future__ import annotations

__all__ = ["FIELD_FLAGS", "PARSER", "FlagNames", "as_config_error", "remember_parsers"]

import argparse
import re
from collections.abc import Mapping

from vmsbridge.errors import ConfigError, ConfigProblem, ValidationFailed

# Namespace attributes set through ``set_defaults``: the parser that ran, and its overrides.
PARSER = "_parser"
FIELD_FLAGS = "field_flags"


def remember_parsers(parser: argparse.ArgumentParser) -> None:
    """Make every parser of the tree record itself in the namespace it fills.

    A subcommand's defaults are applied after its parent's, so the namespace ends up holding the
    innermost parser that ran: the one whose options the user typed.
    """
    parser.set_defaults(**{PARSER: parser})
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in set(action.choices.values()):
                remember_parsers(child)


class FlagNames:
    """The flags of one parser, looked up by the field a service names."""

    def __init__(
        self, parser: argparse.ArgumentParser | None, overrides: Mapping[str, str] | None = None
    ) -> None:
        self._flags: dict[str, str] = {}
        for action in parser._actions if parser is not None else ():
            long = [o for o in action.option_strings if o.startswith("--")]
            if long and action.dest != argparse.SUPPRESS:
                # The first long option: ``--from`` rather than a later alias.
                self._flags.setdefault(action.dest, long[0])
        self._flags.update(overrides or {})

    @classmethod
    def of(cls, args: argparse.Namespace) -> FlagNames:
        return cls(getattr(args, PARSER, None), getattr(args, FIELD_FLAGS, None))

    def maps(self, field: str) -> bool:
        return field in self._flags

    def flag(self, field: str) -> str:
        return self._flags.get(field, field)

    def reason(self, reason: str, related: tuple[str, ...]) -> str:
        """``reason`` with each related field, as a whole word, replaced by its flag."""
        if not related:
            return reason
        names = sorted(related, key=len, reverse=True)  # "occurred_from" before a field "occurred"
        pattern = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, names)) + r")(?![\w-])")
        return pattern.sub(lambda m: self.flag(m.group(1)), reason)


def as_config_error(exc: ValidationFailed, flags: FlagNames) -> ConfigError:
    """The refusal as the command line reports bad arguments (exit 2, every problem listed)."""
    subject = flags.flag(exc.title) if exc.subject is None else exc.subject
    problems = [ConfigProblem(flags.flag(p.field), flags.reason(p.reason, p.related)) for p in exc.problems]
    return ConfigError(subject, problems)
