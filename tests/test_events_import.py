"""`vmsbridge events import` with hostile and clumsy files: every bad line named, every good one kept."""

from __future__ import annotations

import asyncio
import errno
import io
import json
import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import _create_pg_database, _drop_pg_database
from vmsbridge.cli.main import main
from vmsbridge.log_output import escape_controls


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def cli_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[str]]:
    if request.param == "sqlite":
        yield ["--db", f"sqlite:///{tmp_path / 'import.db'}"]
        return
    url = asyncio.run(_create_pg_database())
    try:
        yield ["--db", url]
    finally:
        asyncio.run(_drop_pg_database(url))


def event(native_id: str, **extra: Any) -> bytes:
    payload = {
        "source": "rms-export",
        "native_id": native_id,
        "kind": "motion.start",
        "device_id": "cam-quad-ptz",
        "occurred_at": "2026-11-20T22:00:00+00:00",
        **extra,
    }
    return json.dumps(payload).encode()


def import_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cli_db: list[str], *lines: bytes
) -> tuple[int, list[str]]:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    code = main(["events", "import", str(path), *cli_db])
    return code, capsys.readouterr().err.splitlines()


def tail(capsys: pytest.CaptureFixture[str], cli_db: list[str]) -> list[dict[str, Any]]:
    assert main(["events", "tail", "--json", *cli_db]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "line 2: nested deeper than 64 levels"),
        (
            event("deep", attributes={"a": json.loads("[" * 70 + "]" * 70)}),
            "line 2: nested deeper than 64 levels",
        ),
        (
            event("big").replace(b'"rms-export"', b"1" * 5000),
            "line 2: a number of 5000 digits (at most 4300)",
        ),
        (b'\xff\xfe{"source": "x"}', "line 2: not UTF-8 text (byte 0)"),
        (b"this line is not JSON", "line 2: not JSON: Expecting value: line 1 column 1 (char 0)"),
        (b'{"source": "x", "native_id": NaN}', "line 2: not JSON: NaN is not a JSON value"),
        (b'{"source": "x", "native_id": 1e999}', "line 2: a number out of range (1e999)"),
    ],
    ids=["nested-100000", "nested-70", "5000-digits", "not-utf8", "not-json", "nan", "1e999"],
)
def test_a_line_that_is_no_usable_json_is_named_kept_and_the_good_lines_land(
    bad: bytes,
    reason: str,
    cli_db: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, err = import_file(tmp_path, capsys, cli_db, event("a"), bad, event("b"))
    assert code == 1, err  # a rejected line fails the import, after the good lines are stored
    assert err == [reason, "imported: 2 stored, 0 already stored, 1 rejected"]
    assert sorted(e["native_id"] for e in tail(capsys, cli_db)) == ["a", "b"]
    assert main(["events", "rejected", *cli_db]) == 0
    assert reason in capsys.readouterr().out  # kept with its line number and the raw line


def test_a_line_longer_than_the_limit_is_refused_without_reading_it_whole(
    cli_db: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    huge = b'{"source": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    code, err = import_file(tmp_path, capsys, cli_db, event("a"), huge, event("b"))
    assert code == 1, err  # a rejected line fails the import, after the good lines are stored
    assert err == ["line 2: longer than 1048576 bytes", "imported: 2 stored, 0 already stored, 1 rejected"]


def test_the_bridge_stamps_receipt_and_lines_timed_in_the_future_or_out_of_range_are_rejected(
    cli_db: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    started = datetime.now(UTC)
    far = "9999-12-31T23:00:00+00:00"
    code, err = import_file(
        tmp_path,
        capsys,
        cli_db,
        event("own-receipt", received_at=far),  # a line cannot say when the bridge received it
        event("future", occurred_at=far, received_at=far),
        event("offset", occurred_at="9999-12-31T23:00:00-14:00"),
        event("year-1", occurred_at="0001-01-01T00:00:00+14:00"),
        event("tomorrow", occurred_at=(started + timedelta(days=2)).isoformat()),
    )
    assert code == 1, err  # a rejected line fails the import, after the good lines are stored
    assert err[0].startswith("line 2: payload: occurred_at 9999-12-31T23:00:00+00:00 is more than 1 day")
    assert err[0].endswith("device clock is wrong")
    assert err[1] == "line 3: occurred_at: 9999-12-31T23:00:00-14:00 is out of range once converted to UTC"
    assert err[2] == "line 4: occurred_at: 0001-01-01T00:00:00+14:00 is out of range once converted to UTC"
    assert err[3].startswith("line 5: payload: occurred_at ")
    assert err[4] == "imported: 1 stored, 0 already stored, 4 rejected"
    [stored] = tail(capsys, cli_db)
    assert stored["native_id"] == "own-receipt"
    assert started <= datetime.fromisoformat(stored["received_at"]) <= datetime.now(UTC)
    assert stored["attributes"] == {"payload_received_at": far}


def test_acks_give_each_event_its_stored_id_with_control_characters_escaped(
    cli_db: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    acks = {  # the id in the file: the id acknowledged
        "plain": "plain",
        "lone\udfffsurrogate": "lone\\udfffsurrogate",  # stored escaped: no store can hold it
        "nul\x00": "nul\\u0000",
        " padded\t": "padded",  # stored without the whitespace around it
        "esc\x1b[2J\rforged\nstored rms-export x\n": "esc\\x1b[2J\\rforged\\nstored rms-export x",
    }
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(event(native_id) for native_id in acks) + b"\n")
    code = main(["events", "import", str(path), "--acks", *cli_db])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert sorted(out.splitlines()) == sorted(f"stored rms-export {ack}" for ack in acks.values())
    stored = {escape_controls(e["native_id"]) for e in tail(capsys, cli_db)}
    assert stored == set(acks.values())


class _StdoutGone(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError(errno.EIO, os.strerror(errno.EIO))


def test_an_ack_that_cannot_be_printed_makes_the_import_fail_and_say_so(
    cli_db: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(event("a") + b"\n" + event("b") + b"\n")
    monkeypatch.setattr(sys, "stdout", _StdoutGone())
    assert main(["events", "import", str(path), "--acks", *cli_db]) == 1
    err = capsys.readouterr().err.splitlines()
    assert (
        err[-1]
        == "imported: 2 stored, 0 already stored, 0 rejected; 2 acknowledgement(s) NOT PRINTED: run again"
    )


def test_rejected_input_is_shown_with_its_control_characters_escaped(
    cli_db: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    unknown_device = event("a", source="cam\x1b]0;owned\x07", device_id="cam-\x1b[2J")
    not_json = b"\x1b[31mnot json\r\x9b"  # the line kept as it came
    code, err = import_file(tmp_path, capsys, cli_db, unknown_device, not_json)
    assert code == 1, err  # a rejected line fails the import, after the good lines are stored
    assert main(["events", "rejected", *cli_db]) == 0
    out = capsys.readouterr().out
    assert "cam\\x1b]0;owned\\x07: device_id: " in out
    assert "\\x1b[31mnot json\\r\\x9b" in out
    assert not set(out) & {"\x1b", "\x07", "\r", "\x9b"}


def test_a_clean_file_exits_0_and_a_rerun_of_it_too(
    cli_db: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = import_file(tmp_path, capsys, cli_db, event("a"), event("b"))
    assert (code, err) == (0, ["imported: 2 stored, 0 already stored, 0 rejected"])
    code, err = import_file(tmp_path, capsys, cli_db, event("a"), event("b"))
    assert (code, err) == (0, ["imported: 0 stored, 2 already stored, 0 rejected"])


def test_an_import_while_no_bridge_runs_is_stored_and_correlated_yet_that_time_stays_unknown(
    cli_db: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An import watches no camera: were it recorded as a bridge run, camera health would read the
    time it took as observed (up), where nothing was watching. The events still land and correlate."""
    from vmsbridge.config import default_config_path, load_site_config
    from vmsbridge.health.service import health_report
    from vmsbridge.store.database import resolve_db_url
    from vmsbridge.store.stores import open_store

    site = load_site_config(default_config_path())
    started = datetime.now(UTC)
    now = started.isoformat()
    code, err = import_file(tmp_path, capsys, cli_db, event("a", occurred_at=now))
    assert (code, err) == (0, ["imported: 1 stored, 0 already stored, 0 rejected"])
    ended = datetime.now(UTC)

    async def check() -> None:
        url = resolve_db_url(cli_db[1], site.storage.db_url, site.storage.data_dir)
        async with open_store(url, migrate=False) as stores:
            assert await stores.health.runs_between(started - timedelta(days=1), ended) == []
            [stored] = await stores.events.recent(10)
            assert await stores.incidents.incident_of_event(stored.id) is not None  # correlated
            report = await health_report(stores.health, site, started, ended, ended)
            span = (ended - started).total_seconds()
            assert report.cameras, "the site has cameras to report on"
            for camera in report.cameras:
                assert (camera.camera_id, camera.unknown_seconds) == (camera.camera_id, span)
                assert camera.uptime_pct is None

    asyncio.run(check())
