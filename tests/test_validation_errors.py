"""The refusal a service raises (fields and reasons, readable as JSON) and its rendering as flags."""

from __future__ import annotations

import argparse
import json

import pytest

from vmsbridge.cli.errors import FIELD_FLAGS, PARSER, FlagNames, as_config_error, remember_parsers
from vmsbridge.errors import ConfigError, ValidationFailed, ValidationProblem, VmsBridgeError

INVERTED = ValidationProblem("occurred_to", "is before occurred_from", related=("occurred_from",))


def test_a_problem_reads_well_as_json() -> None:
    assert json.loads(json.dumps(INVERTED.as_dict())) == {
        "field": "occurred_to",
        "reason": "is before occurred_from",
        "related": ["occurred_from"],
    }
    assert str(INVERTED) == "occurred_to: is before occurred_from"
    assert str(ValidationProblem("", "say what you want")) == "say what you want"


def test_a_refusal_carries_every_problem_and_is_not_a_config_error() -> None:
    refusal = ValidationFailed([INVERTED, ValidationProblem("reported_at", "is in the future")], "times")
    assert isinstance(refusal, VmsBridgeError)
    assert isinstance(refusal, ValueError)
    assert not issubclass(ValidationFailed, ConfigError)  # that is for site files
    assert refusal.fields == {"occurred_to", "reported_at"}
    assert str(refusal) == (
        "times: 2 problem(s)\n  occurred_to: is before occurred_from\n  reported_at: is in the future"
    )
    assert json.loads(json.dumps(refusal.as_dict())) == {
        "subject": "times",
        "problems": [
            {"field": "occurred_to", "reason": "is before occurred_from", "related": ["occurred_from"]},
            {"field": "reported_at", "reason": "is in the future", "related": []},
        ],
    }
    alone = ValidationFailed([ValidationProblem("follows", "notification 3 has not been issued")])
    assert alone.title == "follows"
    assert alone.as_dict()["subject"] == "follows"
    with pytest.raises(ValueError, match="at least one problem"):
        ValidationFailed([])


def tiny_cli() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="x")
    parser.add_argument("--db")
    actions = parser.add_subparsers(dest="command", required=True)
    draft = actions.add_parser("draft")
    draft.add_argument("-o", "--occurred-to", dest="occurred_to")
    draft.add_argument("--occurred-from", dest="occurred_from")
    draft.add_argument("--start", dest="started")
    draft.set_defaults(field_flags={"started_at": "--start"})
    deep = actions.add_parser("deep").add_subparsers(dest="deep", required=True).add_parser("er")
    deep.add_argument("--kind")
    remember_parsers(parser)
    return parser


def test_the_namespace_holds_the_innermost_parser_that_ran() -> None:
    parser = tiny_cli()
    assert getattr(parser.parse_args(["deep", "er", "--kind", "k"]), PARSER).prog == "x deep er"
    assert getattr(parser.parse_args(["draft"]), PARSER).prog == "x draft"


def test_fields_become_the_flags_of_the_parser_that_ran() -> None:
    args = tiny_cli().parse_args(["draft"])
    flags = FlagNames.of(args)
    assert args.field_flags == {"started_at": "--start"}
    assert (flags.flag("occurred_to"), flags.flag("started_at")) == ("--occurred-to", "--start")
    # Options of another subcommand or of the parent are not this command's: left as they are.
    assert not flags.maps("kind")
    assert flags.flag("kind") == "kind"
    assert not flags.maps("db")
    rendered = as_config_error(ValidationFailed([INVERTED]), flags)
    assert str(rendered) == "--occurred-to: 1 problem(s)\n  --occurred-to: is before --occurred-from"
    several = as_config_error(ValidationFailed([INVERTED], subject="times"), flags)
    assert several.source == "times"  # a subject that is not a field stays as it is


def test_only_related_fields_are_rewritten_and_only_as_whole_words() -> None:
    flags = FlagNames.of(tiny_cli().parse_args(["draft"]))
    reason = "started_at: occurred_from, not occurred_from_x or x_occurred_from; occurred_to stays"
    assert flags.reason(reason, ("occurred_from", "started_at")) == (
        "--start: --occurred-from, not occurred_from_x or x_occurred_from; occurred_to stays"
    )
    assert flags.reason("is before occurred_from", ()) == "is before occurred_from"


def test_without_a_parser_fields_keep_their_names() -> None:
    flags = FlagNames.of(argparse.Namespace())
    assert str(as_config_error(ValidationFailed([INVERTED]), flags)) == (
        "occurred_to: 1 problem(s)\n  occurred_to: is before occurred_from"
    )
    assert FIELD_FLAGS == "field_flags"
