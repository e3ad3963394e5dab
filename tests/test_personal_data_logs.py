"""No person's name in a log line: database errors keep their data out, and the guard that checks it.

The failure this reproduces: a Clery import that PostgreSQL refused printed the arrested person's
name twice in its traceback, in the SQL parameters and in PostgreSQL's DETAIL ("Failing row
contains (..., name)"). Here the database is made to refuse a long name (a CHECK constraint, or a
trigger on SQLite), as any constraint or limit may.
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Integer, TextClause, bindparam, text
from sqlalchemy.exc import DBAPIError

from tests.personal_data import PersonDataGuard, leaks
from vmsbridge.cli.main import main
from vmsbridge.store.stores import Stores

NAME = "Jonathan Doe-Smithers"
REFUSAL = "ck_names_short"


async def refuse_long_names(stores: Stores) -> None:
    if stores.db.is_sqlite:
        statement = (
            f"CREATE TRIGGER {REFUSAL} BEFORE INSERT ON clery_persons WHEN length(NEW.name) > 12 "
            f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END"
        )
    else:
        statement = f"ALTER TABLE clery_persons ADD CONSTRAINT {REFUSAL} CHECK (char_length(name) <= 12)"
    async with stores.db.engine.begin() as connection:
        await connection.execute(text(statement))


def rms_file(tmp_path: Path) -> Path:
    record = {
        "case_number": "26-0042",
        "reported_at": "2026-03-02T08:15:00-06:00",
        "location": "maple-hall",
        "offenses": [{"code": "burglary"}],
        "arrests": [{"person": NAME, "violation": "drug", "action": "arrest"}],
    }
    path = tmp_path / "rms.jsonl"
    path.write_text(json.dumps(record) + "\n")
    return path


@pytest.mark.person_data(names=[NAME])
async def test_a_clery_import_the_database_refuses_logs_the_failure_without_the_name(
    stores: Stores, db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await refuse_long_names(stores)
    argv = ["clery", "import", str(rms_file(tmp_path)), "--db", db_url, "--log-level", "DEBUG"]
    assert await asyncio.to_thread(main, argv) == 3  # logged as a bug, with its traceback
    [failure] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert failure.exc_info is not None
    assert REFUSAL in caplog.text  # what failed is still said
    assert "[SQL parameters hidden due to hide_parameters=True]" in caplog.text
    assert await stores.clery_records.records() == []  # one transaction: nothing half-stored


@pytest.mark.person_data(names=[NAME])
async def test_the_same_failure_on_a_real_command_line_prints_no_name(
    stores: Stores, db_url: str, tmp_path: Path, person_data_guard: PersonDataGuard
) -> None:
    await refuse_long_names(stores)
    argv = ["clery", "import", str(rms_file(tmp_path)), "--db", db_url, "--log-level", "DEBUG"]
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "vmsbridge", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    person_data_guard.watch(done.stderr)
    person_data_guard.watch(done.stdout)
    assert done.returncode == 3, done.stderr
    assert REFUSAL in done.stderr


def _cases() -> list[Any]:
    return [
        pytest.param(
            text(f"INSERT INTO clery_records_missing_{REFUSAL} VALUES (:v)"),
            'relation "clery_records_missing_',
            id="a message that names only the schema is kept",
        ),
        pytest.param(
            text("SELECT CAST(CAST(:v AS TEXT) AS INTEGER)"),
            "invalid input syntax for type integer",
            id="the server quotes the value it could not read",
        ),
        pytest.param(
            text("SELECT :v").bindparams(bindparam("v", type_=Integer)),
            "invalid input for query argument $1",
            id="asyncpg repeats the value it could not encode",
        ),
        pytest.param(
            text("INSERT INTO clery_persons (record_id, person_no, name) VALUES (1, 1, :v)"),
            REFUSAL,
            id="the failing row in DETAIL",
        ),
    ]


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize(("statement", "still_said"), _cases())
async def test_postgresql_errors_say_what_failed_but_not_the_value(
    stores: Stores, statement: TextClause, still_said: str
) -> None:
    await refuse_long_names(stores)
    async with stores.db.engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO clery_records (case_number, reported_at, location_id, unfounded, disposition,"
                " offenses, arrests, source, created_at, created_by, updated_at, updated_by) VALUES"
                " ('26-1', now(), 'quad', false, '', '[]', '[]', 't', now(), 't', now(), 't')"
            )
        )
    with pytest.raises(DBAPIError) as info:
        async with stores.db.engine.begin() as connection:
            await connection.execute(statement, {"v": NAME})
    shown = "".join(traceback.format_exception(info.value))
    assert still_said in shown
    assert leaks([NAME], [shown]) == []


def test_the_guard_fails_a_test_whose_log_holds_a_name(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("from tests.personal_data import person_data_guard, pytest_configure  # noqa\n")
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        """
        import logging

        import pytest

        pytestmark = pytest.mark.person_data(names=["Sam Poe", "Zo\\u00eb Li"])
        log = logging.getLogger("vmsbridge.example")

        def test_clean():
            log.debug("person #1 recorded")

        def test_debug_message():
            log.debug("recorded %s", "Sam Poe")

        def test_other_case():
            log.info("recorded SAM POE")

        def test_bytes_repr():
            log.warning("row %r", ("Zo\\u00eb Li".encode(),))

        def test_traceback():
            try:
                raise ValueError("no such person: Zo\\u00eb Li")
            except ValueError:
                log.exception("import failed")

        def test_watched_stderr(person_data_guard):
            person_data_guard.watch("Traceback ...\\n[parameters: ('Sam Poe',)]")

        def test_library_held_at_its_floor():
            logging.getLogger("aiosqlite").debug("executing (..., ('Sam Poe',))")

        @pytest.mark.person_data(names=[])
        def test_a_mark_without_names():
            pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    errored = {
        "test_debug_message",
        "test_other_case",
        "test_bytes_repr",
        "test_traceback",
        "test_watched_stderr",
        "test_a_mark_without_names",
    }
    assert result.parseoutcomes()["errors"] == len(errored), result.stdout.str()
    for test in errored - {"test_a_mark_without_names"}:
        result.stdout.fnmatch_lines([f"*ERROR at teardown of {test}*"])
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_debug_message*",
            "personal data in the log (1 line(s)):",
            "  'Sam Poe' in: * DEBUG vmsbridge.example: recorded Sam Poe",
        ]
    )
    result.stdout.fnmatch_lines(["*ERROR at setup of test_a_mark_without_names*", "*needs names=*"])
    result.stdout.no_fnmatch_line("*ERROR at *test_clean*")
    result.stdout.no_fnmatch_line("*ERROR at *test_library_held_at_its_floor*")
