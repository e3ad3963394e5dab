"""Bad arguments refused by a service read, on the command line, exactly as they always have: the
service names domain fields, the CLI shows each as the flag that set it (both backends)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from tests.crimelog_helpers import draft_crime
from vmsbridge.app import Stores
from vmsbridge.clery.firelog import draft as draft_fire
from vmsbridge.clery.notifications import draft as draft_notification
from vmsbridge.cli.main import main
from vmsbridge.config import SiteConfig

REPORTED = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
ERROR = "vmsbridge: configuration error in "
REASONS = (
    "ongoing_investigation, individual_safety, suspect_flight, evidence_destruction, prohibited_by_law, "
    "victim_confidentiality"
)
EDITABLE = "nature, occurred_from, occurred_to, general_location, disposition"


def cases(incident: int, crime: int, fire: int, notification: int) -> list[tuple[list[str], str]]:
    """(argv, the whole of standard error)."""
    at = "--reported-at", "2026-11-25T08:00:00Z"
    return [
        (
            [
                "crimelog",
                "draft",
                "--incident",
                f"{incident}",
                "--nature",
                "Theft",
                *at,
                "--occurred-from",
                "2026-11-25T07:00:00Z",
                "--occurred-to",
                "2026-11-25T06:00:00Z",
            ],
            "times: 1 problem(s)\n  --occurred-to: is before --occurred-from\n",
        ),
        (
            [
                "crimelog",
                "draft",
                "--incident",
                f"{incident}",
                "--nature",
                "Theft",
                *at,
                "--occurred-from",
                "2026-11-25T09:00:00Z",
            ],
            "times: 1 problem(s)\n  --occurred-from: 2026-11-25T09:00:00+00:00 is after --reported-at "
            "2026-11-25T08:00:00+00:00: a crime or fire cannot start after it was reported\n",
        ),
        (
            ["crimelog", "draft", "--incident", f"{incident}", "--nature", " ", *at],
            "--nature: 1 problem(s)\n  --nature: plain-language nature of the crime is required\n",
        ),
        (
            ["crimelog", "update", f"{crime}", "--field", "victim_name", "--value", "x"],
            f"--field: 1 problem(s)\n  --field: 'victim_name' is not one of {EDITABLE}\n",
        ),
        (
            ["crimelog", "update", f"{crime}", "--field", "occurred_from", "--value", "yesterday"],
            "--value: 1 problem(s)\n  --value: 'yesterday' is not an ISO 8601 time\n",
        ),
        (
            ["crimelog", "update", f"{crime}", "--field", "occurred_from", "--value", "2026-11-25T07:00:00"],
            "--value: 1 problem(s)\n  --value: needs a time zone (add Z or +hh:mm)\n",
        ),
        (
            [
                "crimelog",
                "update",
                f"{crime}",
                "--field",
                "disposition",
                "--value",
                "Closed",
                "--received-at",
                "2020-01-01T00:00:00Z",
            ],
            "update: 1 problem(s)\n  --received-at: 2020-01-01T00:00:00+00:00 is before the entry was "
            "reported (2026-11-25T08:00:00+00:00)\n",
        ),
        (
            ["crimelog", "update", f"{crime}", "--field", "occurred_from", "--value", "2026-11-25T09:00:00Z"],
            "update: 1 problem(s)\n  --value: occurred_from 2026-11-25T09:00:00+00:00 would be after the "
            "entry was reported (2026-11-25T08:00:00+00:00)\n",
        ),
        (
            [
                "crimelog",
                "withhold",
                f"{crime}",
                "--field",
                "victim",
                "--reason",
                "embarrassment",
                "--note",
                " ",
                "--review-by",
                "2020-01-01T00:00:00Z",
                "--actor",
                "det",
            ],
            "withholding: 4 problem(s)\n"
            f"  --field: 'victim' is not one of {EDITABLE}\n"
            f"  --reason: 'embarrassment' is not one of {REASONS}\n"
            "  --note: a note on the evidence for withholding is required\n"
            "  --review-by: must be in the future\n",
        ),
        (
            ["crimelog", "export", "--from", "2026-09-30", "--to", "2026-09-01"],
            "--to: 1 problem(s)\n  --to: 2026-09-01 is before --from 2026-09-30\n",
        ),
        (
            ["firelog", "draft", "--location", "library", "--nature", "Fire", *at],
            "--location: 1 problem(s)\n  --location: 'library' (Harmon Library) is not student housing: the "
            "fire log covers fires in on-campus student-housing facilities only (student_housing = true in "
            "the site file); student housing: maple-hall\n",
        ),
        (
            [
                "firelog",
                "draft",
                "--location",
                "maple-hall",
                "--nature",
                " ",
                "--injuries",
                "-1",
                "--damage",
                "-5",
                *at,
            ],
            "fire log: 3 problem(s)\n"
            "  --nature: plain-language nature of the fire is required\n"
            "  --injuries: must be a whole number >= 0, not -1\n"
            "  --damage: must be a whole number >= 0, not -5\n",
        ),
        (
            ["firelog", "update", f"{fire}", "--field", "deaths", "--value", "two"],
            "--value: 1 problem(s)\n  --value: deaths must be a whole number >= 0, not 'two'\n",
        ),
        (
            ["notify", "draft", "--kind", "emergency"],
            "--incident: 1 problem(s)\n"
            "  --incident: a emergency drafted by hand needs --location and --nature\n",
        ),
        (
            ["notify", "draft", "--kind", "all_clear", "--location", "quad", "--nature", "Fire"],
            "--follows: 1 problem(s)\n  --follows: an all-clear drafted by hand must name the notification "
            "it clears\n",
        ),
        (
            ["notify", "draft", "--kind", "all_clear", "--incident", f"{incident}"],
            "--kind: 1 problem(s)\n"
            f"  --kind: incident {incident} has no issued timely warning or emergency notification that is "
            "still in force (not a test, not cancelled, not already cleared) for an all-clear to end; name "
            "one with --follows if you mean it\n",
        ),
        (
            ["notify", "draft", "--kind", "test", "--follows", "1", "--cancels", "2"],
            "--cancels: 1 problem(s)\n  --cancels: a message either follows (updates) or cancels another, "
            "not both\n",
        ),
        (
            ["notify", "draft", "--kind", "test", "--follows", f"{notification}"],
            f"--follows: 1 problem(s)\n  --follows: notification {notification} has not been issued, so "
            "nothing refers to it\n",
        ),
        (
            ["notify", "edit", f"{notification}"],
            "--headline: 1 problem(s)\n  --headline: give at least one of --headline, --description, "
            "--instruction\n",
        ),
        (
            ["notify", "edit", f"{notification}", "--instruction", " "],
            "--instruction: 1 problem(s)\n  --instruction: must not be empty\n",
        ),
        (
            ["notify", "approve", f"{notification}", "--actor", " "],
            "--actor: 1 problem(s)\n  --actor: the approving actor is required\n",
        ),
        (
            ["notify", "decline", f"{notification}", "--actor", "x", "--reason", " "],
            "--reason: 1 problem(s)\n  --reason: the reason for not issuing is required\n",
        ),
        (
            [
                "notify",
                "test-record",
                "--description",
                "x",
                "--start",
                "2026-01-01T00:00:00Z",
                "--end",
                "2026-01-01T00:00:00Z",
                "--announced",
                "--actor",
                "a",
            ],
            "--end: 1 problem(s)\n  --end: must be after --start\n",
        ),
        (
            [
                "notify",
                "test-record",
                "--description",
                " ",
                "--start",
                "2026-01-01T00:00:00Z",
                "--end",
                "2026-01-01T01:00:00Z",
                "--announced",
                "--actor",
                "a",
            ],
            "--description: 1 problem(s)\n  --description: a description of the exercise is required\n",
        ),
        (
            ["health", "report", "--from", "2026-01-02", "--to", "2026-01-01"],
            "health report: 1 problem(s)\n  --from/--to: empty window: 2026-01-02T06:00:00+00:00 to "
            "2026-01-02T06:00:00+00:00\n",
        ),
    ]


async def test_service_refusals_name_the_flags_exit_2(
    stores: Stores, site: SiteConfig, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    crime, _ = await draft_crime(stores, site, "quad", nature="Theft", reported_at=REPORTED, now=now)
    assert crime.incident_id is not None
    fire, _ = await draft_fire(
        stores, site, location_id="maple-hall", nature="Fire", reported_at=REPORTED, actor="f", now=now
    )
    test = await draft_notification(stores, site, kind="test", actor="coord", now=now)
    capsys.readouterr()
    wrong = []
    for argv, expected in cases(crime.incident_id, crime.id, fire.id, test.id):
        code = await asyncio.to_thread(main, [*argv, "--db", db_url])
        out, err = capsys.readouterr()
        if (code, out, err) != (2, "", ERROR + expected):
            wrong.append((argv, code, err))
    assert wrong == []
