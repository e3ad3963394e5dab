"""The command line, called in-process through ``main(argv)`` (as pre-commit's tests do)."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, _create_pg_database, _drop_pg_database
from vmsbridge.cli.incidents import PRIORITIES
from vmsbridge.cli.main import build_parser, main
from vmsbridge.ingest import IngestStage
from vmsbridge.model import Priority
from vmsbridge.runtime import RestartPolicy


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    url = asyncio.run(_create_pg_database())
    yield url
    asyncio.run(_drop_pg_database(url))


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_demo_json_runs_the_callup_against_both_emulators(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_json(capsys, "demo", "--json", "--clip-after", "5")
    assert isinstance(result, dict)
    assert (result["events"], result["duplicates"], result["rejected"]) == (7, 1, 1)
    incidents = {i["location"]: i for i in result["incidents"]}
    assert set(incidents) == {"boathouse", "lot-b", "maple-hall", "athletics"}
    assert incidents["maple-hall"]["event_kinds"][0] == "door.forced"
    assert incidents["athletics"]["priority"] == "medium"
    assert incidents["boathouse"]["status"] == "closed"  # its last motion was 49 minutes ago
    # The live call: real ONVIF input -> rule -> PTZ, XProtect alarm, clip, evidence; the forced
    # door at the adjacent library joined the same incident.
    lot_b = incidents["lot-b"]
    assert lot_b["priority"] == "high"
    # The emulated camera's "recording" (the fixture scene) has tamper in it; the clip's analysis
    # reports it as camera.tamper events, which join the incident.
    assert [k for k in lot_b["event_kinds"] if k != "camera.tamper"][:2] == ["phone.offhook", "door.forced"]
    # The incident began with the call, not with tamper the clip's pre-roll showed 30 s earlier.
    assert (
        lot_b["started_at"] == next(e for e in lot_b["events"] if e["kind"] == "phone.offhook")["occurred_at"]
    )
    assert "camera.tamper" in lot_b["event_kinds"]
    actions = {a["type"]: a for a in lot_b["actions"]}
    assert set(actions) == {"ptz_goto", "xprotect_alarm", "capture_clip", "open_incident"}
    assert all(a["ok"] and a["ms"] >= 0 for a in lot_b["actions"]), lot_b["actions"]
    assert sorted(e["kind"] for e in lot_b["evidence"]) == ["derived", "derived", "original"]
    assert all(len(e["sha256"]) == 64 for e in lot_b["evidence"])
    # The custody chain: one entry acquiring the original, one per derivative, hash-linked.
    custody = lot_b["custody"]
    assert [c["action"] for c in custody[:3]] == ["acquired", "derived", "derived"]
    assert {c["item"] for c in custody[:3]} == {e["sha256"] for e in lot_b["evidence"]}
    assert [c["seq"] for c in custody] == list(range(1, len(custody) + 1))
    assert [a["source"] for a in result["vms_alarms"]] == ["0d3c1f2e-7b5a-4c0e-9a51-6e2f3b8d1a00"]
    # The clip came over RTSP: the bridge recorded the emulated camera's live stream from the start, and
    # the call came once its buffer held the 30 s of pre-roll.
    assert result["clip_from"] == "buffer"
    for incident in result["incidents"]:
        assert {
            "id",
            "location",
            "priority",
            "event_kinds",
            "started_at",
            "actions",
            "evidence",
        } <= incident.keys()


def test_demo_prints_a_readable_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--clip-after", "5"]) == 0
    captured = capsys.readouterr()
    assert "7 stored" in captured.out
    assert "Blue-light phone picked up: Blue light, Lot B row F" in captured.out
    assert "ok   ptz_goto" in captured.out
    assert "evidence original sha256" in captured.out
    assert "The clip: cut from the bridge's pre-roll buffer of the camera's live RTSP stream" in captured.out
    assert "'bl-unmapped' is not a device" in captured.out
    assert "handset lifted" in captured.err  # progress goes to stderr


def test_check_config_accepts_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(ROOT / "examples" / "campus.toml")]) == 0
    out = capsys.readouterr().out
    assert "OK" in out
    assert "VMSBRIDGE_XPROTECT_PASSWORD is not set" in out  # a warning, not an error


def test_check_config_exits_2_naming_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (ROOT / "examples" / "campus.toml").read_text()
    text = text.replace('clery_geography = "noncampus"', 'clery_geography = "off_campus"')
    text = text.replace('camera = "cam-maple-entry"', 'camera = "cam-nowhere"')
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    assert main(["check-config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "locations[6].clery_geography: 'off_campus' is not one of" in err
    assert str(bad) in err
    # reference errors are found once the file's shape is right
    bad.write_text(text.replace('"off_campus"', '"noncampus"'))
    assert main(["check-config", str(bad)]) == 2
    assert "doors[0].camera: 'cam-nowhere' is not a camera id" in capsys.readouterr().err


def test_incident_commands_round_trip(sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade", "--db", sqlite_url]) == 0
    capsys.readouterr()
    created = run_json(
        capsys,
        "incidents",
        "open",
        "--location",
        "quad",
        "--summary",
        "Suspicious person",
        "--actor",
        "op1",
        "--json",
        "--db",
        sqlite_url,
    )
    assert isinstance(created, dict)
    incident_id = created["id"]
    listed = run_json(capsys, "incidents", "list", "--status", "open", "--json", "--db", sqlite_url)
    assert [(i["id"], i["summary"], i["opened_by"]) for i in listed] == [
        (incident_id, "Suspicious person", "op1")
    ]
    assert (
        main(["incidents", "close", str(incident_id), "--reason", "gone on arrival", "--db", sqlite_url]) == 0
    )
    assert f"closed incident #{incident_id}" in capsys.readouterr().out
    shown = run_json(capsys, "incidents", "show", str(incident_id), "--json", "--db", sqlite_url)
    assert isinstance(shown, dict)
    assert (shown["status"], shown["close_reason"]) == ("closed", "gone on arrival")
    assert main(["incidents", "close", str(incident_id), "--db", sqlite_url]) == 1
    assert "already closed" in capsys.readouterr().err
    assert main(["incidents", "show", "999", "--db", sqlite_url]) == 1
    assert "incident 999 does not exist" in capsys.readouterr().err


def test_open_refuses_an_unknown_location(sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["incidents", "open", "--location", "mars", "--summary", "x", "--db", sqlite_url]) == 2
    assert "'mars' is not one of" in capsys.readouterr().err


def test_commands_on_an_unmigrated_database_say_what_to_run(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["incidents", "list", "--db", sqlite_url]) == 1
    assert "run `vmsbridge db upgrade" in capsys.readouterr().err


def test_import_then_tail_on_postgresql(
    pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [
        {
            "source": "t",
            "native_id": "1",
            "kind": "phone.offhook",
            "device_id": "bl-quad",
            "occurred_at": "2026-11-20T22:00:00+00:00",
        },
        "this line is not JSON",
        {
            "source": "t",
            "native_id": "2",
            "kind": "motion.start",
            "device_id": "cam-quad-ptz",
            "occurred_at": "2026-11-20T22:00:05+00:00",
        },
    ]
    stream = tmp_path / "events.jsonl"
    stream.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    assert main(["events", "import", str(stream), "--db", pg_url]) == 1  # a line was rejected
    assert "imported: 2 stored, 0 already stored, 1 rejected" in capsys.readouterr().err
    assert main(["events", "tail", "--json", "--db", pg_url]) == 0
    tailed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["kind"], e["location"]) for e in tailed] == [
        ("phone.offhook", "quad"),
        ("motion.start", "quad"),
    ]
    incidents = run_json(capsys, "incidents", "list", "--json", "--db", pg_url)
    assert [i["event_kinds"] for i in incidents] == [["phone.offhook", "motion.start"]]
    assert main(["events", "rejected", "--db", pg_url]) == 0
    assert "this line is not JSON" in capsys.readouterr().out


def unreachable_campus(tmp_path: Path) -> Path:
    """The example campus with its ONVIF devices on a loopback port where nothing listens."""
    text = (ROOT / "examples" / "campus.toml").read_text()
    text = text.replace('host = "10.20.1.15"\nport = 80', 'host = "127.0.0.1"\nport = 9')
    text = text.replace('host = "10.20.2.15"\nport = 80', 'host = "127.0.0.1"\nport = 9')
    text = text.replace(
        'password_file = "/run/secrets/onvif-south"', 'password_env = "VMSBRIDGE_ONVIF_NORTH_PASSWORD"'
    )
    text = text.replace('url = "https://vms.northfield.example.edu"', 'url = "http://127.0.0.1:9"')
    assert text.count("port = 9\n") == 2
    assert "127.0.0.1:9" in text
    path = tmp_path / "campus.toml"
    path.write_text(text)
    return path


def test_run_keeps_going_while_devices_are_down(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VMSBRIDGE_ONVIF_NORTH_PASSWORD", "not-used")
    monkeypatch.setenv("VMSBRIDGE_XPROTECT_PASSWORD", "not-used")
    config = str(unreachable_campus(tmp_path))
    argv = ["run", "--config", config, "--for", "1", "--scenario", "--db", sqlite_url, "--log-level", "ERROR"]
    assert main(argv) == 0
    incidents = run_json(capsys, "incidents", "list", "--json", "--config", config, "--db", sqlite_url)
    assert len(incidents) == 4


def test_run_exits_1_when_a_stage_keeps_dying(
    sqlite_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VMSBRIDGE_ONVIF_NORTH_PASSWORD", "not-used")
    monkeypatch.setenv("VMSBRIDGE_XPROTECT_PASSWORD", "not-used")
    monkeypatch.setattr(
        "vmsbridge.runtime.options.CORE_RESTARTS", RestartPolicy(first_delay=0.01, max_delay=0.02)
    )

    async def bug(self: IngestStage) -> None:
        raise RuntimeError("a bug in ingest")

    monkeypatch.setattr(IngestStage, "run", bug)
    config = str(unreachable_campus(tmp_path))
    started = time.monotonic()
    argv = [
        "run",
        "--config",
        config,
        "--for",
        "120",
        "--scenario",
        "--db",
        sqlite_url,
        "--log-level",
        "ERROR",
    ]
    assert main(argv) == 1
    assert time.monotonic() - started < 60, "it stopped when the budget was spent, not at --for"
    assert any("ingest stage died again after 5 restarts" in r.getMessage() for r in caplog.records)


def test_run_refuses_to_start_without_a_device_password(
    sqlite_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VMSBRIDGE_ONVIF_NORTH_PASSWORD", raising=False)
    assert main(["run", "--for", "0.1", "--db", sqlite_url]) == 2
    expected = (
        "connectors.onvif[0].password_env: environment variable VMSBRIDGE_ONVIF_NORTH_PASSWORD is not set"
    )
    assert expected in capsys.readouterr().err


def test_check_config_of_arrays_nested_too_deeply_exits_2_saying_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "deep.toml"
    bad.write_text(
        "x = " + "[" * 100_000 + "]" * 100_000 + "\n" + (ROOT / "examples" / "campus.toml").read_text()
    )
    assert main(["check-config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: 1 problem(s)" in err
    assert "arrays or inline tables nested too deeply to read" in err


def test_a_password_file_that_is_not_utf8_is_a_config_error_naming_key_and_file(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VMSBRIDGE_ONVIF_NORTH_PASSWORD", "not-used")
    monkeypatch.setenv("VMSBRIDGE_XPROTECT_PASSWORD", "not-used")
    secret = tmp_path / "onvif-south"
    secret.write_bytes(b"s\xe9cret-in-latin-1\n")
    config = tmp_path / "campus.toml"
    text = (ROOT / "examples" / "campus.toml").read_text()
    config.write_text(
        text.replace('password_file = "/run/secrets/onvif-south"', f'password_file = "{secret}"')
    )
    expected = f"connectors.onvif[1].password_file: {secret} is not UTF-8 text"
    assert main(["check-config", str(config)]) == 0  # secrets are needed only when connectors start
    assert expected in capsys.readouterr().out
    assert main(["run", "--config", str(config), "--for", "0.1", "--db", sqlite_url]) == 2
    err = capsys.readouterr().err
    assert expected in err
    assert "cret-in-latin" not in err
    assert main(["onvif", "probe", "127.0.0.1:9", "--user", "u", "--password-file", str(secret)]) == 2
    assert f"--password-file: {secret} is not UTF-8 text" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["demo"],
        ["run"],
        ["check-config"],
        ["db", "upgrade"],
        ["incidents", "open"],
        ["events", "import"],
        ["onvif", "watch"],
        ["xprotect", "probe"],
        ["emulate", "onvif"],
        ["emulate", "xprotect"],
    ],
)
def test_help_is_there_for_every_command(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args([*command, "--help"])
    assert info.value.code == 0
    assert "usage: vmsbridge" in capsys.readouterr().out


def test_the_priorities_offered_are_the_models() -> None:
    # Spelled out in the CLI so that building the parser loads no model: they must not drift.
    assert tuple(p.value for p in Priority) == PRIORITIES


@pytest.mark.parametrize(
    ("kind", "address", "known"),
    [
        ("onvif", "127.0.0.1:9", "['onvif-north', 'onvif-south']"),
        ("xprotect", "http://127.0.0.1:9", "['xprotect-main']"),
    ],
)
def test_a_connector_the_site_lacks_is_named_with_the_ones_it_has(
    kind: str, address: str, known: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VMSBRIDGE_TEST_PASSWORD", "unused")
    argv = [kind, "watch", address, "--user", "x", "--password-env", "VMSBRIDGE_TEST_PASSWORD"]
    assert main([*argv, "--connector", "nope"]) == 2
    assert f"--connector: 'nope' is not one of {known}" in capsys.readouterr().err


def _leaf_commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    subcommands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subcommands:
        yield path, parser
        return
    for name, child in subcommands[0].choices.items():
        yield from _leaf_commands(child, (*path, name))


# Every command taking --config, found in the parser itself: a new command is covered unasked.
CONFIG_COMMANDS = {
    path: parser
    for path, parser in _leaf_commands(build_parser())
    if any("--config" in a.option_strings for a in parser._actions)
}
# Options without which a command never needs the site file.
READS_CONFIG_ONLY_WITH: dict[tuple[str, ...], list[str]] = {("redact",): ["--camera", "cam-lotb-ptz"]}


def _required_arguments(parser: argparse.ArgumentParser, samples: dict[str, str]) -> list[str]:
    """The command's required arguments, each given a sample value its parser accepts."""
    argv: list[str] = []
    for action in parser._actions:
        positional = not action.option_strings and not isinstance(action, argparse._SubParsersAction)
        if not positional and not action.required:
            continue
        value = samples.get(action.dest, str(next(iter(action.choices))) if action.choices else "1")
        argv += [value] if positional else [action.option_strings[0], value]
    for group in parser._mutually_exclusive_groups:
        if group.required:  # one of them must be given: the first, a flag or with a value
            first = group._group_actions[0]
            argv += [first.option_strings[0]] + ([] if first.nargs == 0 else [samples.get(first.dest, "1")])
    return argv


@pytest.mark.parametrize("command", sorted(CONFIG_COMMANDS), ids=" ".join)
def test_every_command_reads_the_config_file_it_is_given(
    command: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A site file with a problem: each command must read it (as a path) and name the problem and
    # the file, exit 2, before doing any work.
    config = tmp_path / "site.toml"
    config.write_text('[site]\nname = "Config Path College"\n')
    existing = tmp_path / "input.txt"
    existing.write_text("")
    when = "2025-01-01T00:00:00+00:00"
    samples = {
        "file": str(existing),
        "clip": str(existing),
        "output": str(tmp_path / "out.mp4"),
        "out": str(tmp_path / "out"),
        "year": "2025",
        "reported_at": when,
        "review_by": when,
        "start": when,
        "end": when,
    }
    argv = [
        *command,
        *_required_arguments(CONFIG_COMMANDS[command], samples),
        *READS_CONFIG_ONLY_WITH.get(command, []),
        "--config",
        str(config),
    ]
    assert main(argv) == 2, f"vmsbridge {' '.join(argv)}"
    err = capsys.readouterr().err
    assert f"configuration error in {config}" in err, err
    assert "locations: required key is missing" in err, err


def test_rules_lists_the_rules_of_the_given_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "--config", str(ROOT / "examples" / "campus.toml")]) == 0
    assert "blue_light_callup: on phone.offhook" in capsys.readouterr().out
