"""Services speak the domain, the CLI speaks flags.

- No string outside ``vmsbridge/cli`` names a command-line flag (docstrings included): a refusal
  a web API passes on must not tell its user to "use --follows".
- Every field a service can name in a refusal, for a command, is an option of that command's
  parser, so the CLI can always show the flag (found by reading the service's source: the field
  names given to ``ValidationProblem``, to helpers whose first parameter is ``field``, in
  ``related``, and in ``(name, value)`` tables a refusal loops over).
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import inspect
import re
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FunctionType, ModuleType
from typing import Any

import pytest

from vmsbridge.clery import crimelog, export, firelog, notifications
from vmsbridge.cli.errors import FIELD_FLAGS, FlagNames
from vmsbridge.cli.main import build_parser
from vmsbridge.health import service as health

FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def vmsbridge_modules() -> Iterator[tuple[str, Path]]:
    """(dotted name, file) of every module of the installed vmsbridge package."""
    spec = importlib.util.find_spec("vmsbridge")
    assert spec is not None
    assert spec.submodule_search_locations
    for location in spec.submodule_search_locations:
        root = Path(location)
        for path in sorted(root.rglob("*.py")):
            parts = path.relative_to(root.parent).with_suffix("").parts
            yield ".".join(p for p in parts if p != "__init__") or "vmsbridge", path


def flag_strings() -> list[str]:
    found = []
    for name, path in vmsbridge_modules():
        if name == "vmsbridge.cli" or name.startswith("vmsbridge.cli."):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                flags = FLAG.findall(node.value)
                if flags:
                    found.append(f"{name}:{node.lineno}: {' '.join(flags)}")
    return found


def test_no_string_outside_the_cli_names_a_flag() -> None:
    assert flag_strings() == []


def test_the_flag_scan_sees_strings_docstrings_and_f_strings(tmp_path: Path) -> None:
    source = '"""Use ``--db``."""\nx = f"see --to {1}"\ny = "a -- b, x--y, 5 --"\n'
    found = [
        FLAG.findall(n.value)
        for n in ast.walk(ast.parse(source))
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and FLAG.findall(n.value)
    ]
    assert found == [["--db"], ["--to"]]


# ---------------------------------------------------------------------------- fields -> flags

# The service functions each command calls (a command's own argument checks are the CLI's).
COMMANDS: dict[tuple[str, str], tuple[Callable[..., Any], ...]] = {
    ("crimelog", "draft"): (crimelog.draft_from_incident,),
    ("crimelog", "update"): (crimelog.update,),
    ("crimelog", "withhold"): (crimelog.withhold,),
    ("crimelog", "export"): (export.window_for_request, export.render, crimelog.export),
    ("firelog", "draft"): (firelog.draft,),
    ("firelog", "update"): (firelog.update,),
    ("firelog", "export"): (export.window_for_request, export.render, firelog.export),
    ("notify", "draft"): (notifications.draft,),
    ("notify", "edit"): (notifications.edit,),
    ("notify", "approve"): (notifications.approve,),
    ("notify", "decline"): (notifications.decline,),
    ("notify", "test-record"): (notifications.record_test,),
    ("health", "report"): (health.health_report,),
}
ENTRY_POINTS = {f for functions in COMMANDS.values() for f in functions}
SERVICE_PACKAGES = ("vmsbridge.clery.", "vmsbridge.health.")


def _strings(node: ast.expr, module: ModuleType) -> list[str]:
    """The str constants of a literal tuple/list, or of a module-level tuple named by ``node``."""
    if isinstance(node, ast.Tuple | ast.List):
        return [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    if isinstance(node, ast.Name):
        value = getattr(module, node.id, None)
        if isinstance(value, tuple) and all(isinstance(v, str) for v in value):
            return list(value)
    return []


def _callee(call: ast.Call, module: ModuleType) -> Callable[..., Any] | None:
    if isinstance(call.func, ast.Name):
        target = inspect.unwrap(getattr(module, call.func.id, None) or (lambda: None))
        if isinstance(target, FunctionType) and target.__module__.startswith(SERVICE_PACKAGES):
            return target
    return None


def raised_fields(function: Callable[..., Any], seen: set[Callable[..., Any]] | None = None) -> set[str]:
    """The field names ``function`` (and the service helpers it calls) can put in a refusal."""
    seen = set() if seen is None else seen
    if function in seen:
        return set()
    seen.add(function)
    module = inspect.getmodule(function)
    assert module is not None
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    fields: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            callee = _callee(node, module)
            named = isinstance(node.func, ast.Name) and node.func.id == "ValidationProblem"
            takes_field = (
                callee is not None and next(iter(inspect.signature(callee).parameters), "") == "field"
            )
            if (named or takes_field) and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    fields.add(first.value)
            for keyword in node.keywords:
                if keyword.arg == "related":
                    fields.update(_strings(keyword.value, module))
            if callee is not None and callee not in ENTRY_POINTS:
                fields |= raised_fields(callee, seen)
        # (name, value) tables a check loops over: (("injuries", injuries), ("deaths", deaths))
        if isinstance(node, ast.Tuple) and all(isinstance(e, ast.Tuple) for e in node.elts) and node.elts:
            pairs = [e for e in node.elts if isinstance(e, ast.Tuple) and len(e.elts) >= 2]
            if len(pairs) == len(node.elts) and all(
                isinstance(p.elts[0], ast.Constant)
                and isinstance(p.elts[0].value, str)
                and isinstance(p.elts[1], ast.Name)
                for p in pairs
            ):
                fields.update(str(p.elts[0].value) for p in pairs if isinstance(p.elts[0], ast.Constant))
    return fields - {""}


def subcommand(path: tuple[str, ...]) -> argparse.ArgumentParser:
    parser = build_parser()
    for name in path:
        [choices] = [a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        parser = choices[name]
    return parser


@pytest.mark.parametrize("command", list(COMMANDS), ids=" ".join)
def test_every_field_a_service_names_is_an_option_of_the_command(command: tuple[str, str]) -> None:
    parser = subcommand(command)
    flags = FlagNames(parser, parser.get_default(FIELD_FLAGS))
    fields = set().union(*(raised_fields(f) for f in COMMANDS[command]))
    assert fields, f"{' '.join(command)}: no field found: the reader of the service source is broken"
    unmapped = {f for f in fields if not flags.maps(f)}
    not_options = {
        f: flags.flag(f)
        for f in fields - unmapped
        if not set(flags.flag(f).split("/")) <= set(parser._option_string_actions)
    }
    assert (unmapped, not_options) == (set(), {})


def test_the_field_reader_finds_what_the_services_name() -> None:
    assert raised_fields(notifications.record_test) == {
        "description",
        "actor",
        "started_at",
        "ended_at",
    }
    assert raised_fields(firelog.draft) == {
        "location_id",
        "reported_at",
        "occurred_from",
        "occurred_to",
        "nature",
        "injuries",
        "deaths",
        "damage_usd",
    }
    assert raised_fields(notifications.edit) == {"headline", "description", "instruction"}
