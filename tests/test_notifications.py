"""Notifications end to end on both backends: drafts, the victim-name check, approval, CAP, delivery."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller
from lxml import etree

from tests.connectors.conftest import WAIT
from tests.test_cap import assert_valid_cap
from vmsbridge.app import Stores
from vmsbridge.clery.delivery import IDENTIFIER_HEADER, SIGNATURE_HEADER, Deliverer, sinks_for
from vmsbridge.clery.notifications import (
    VictimNamed,
    approve,
    campus_circle,
    decline,
    distance_km,
    draft,
    edit,
    emergency_tests_of_year,
    preview,
    record_test,
)
from vmsbridge.cli.main import main
from vmsbridge.config import NotificationsConfig, SiteConfig
from vmsbridge.errors import ConfigError, ValidationFailed
from vmsbridge.model import Priority
from vmsbridge.model.notifications import CapMessage, NotificationDelivery
from vmsbridge.store.notifications import NotificationConflict

# No name of a person these tests record may reach a log line (tests/personal_data.py).
pytestmark = pytest.mark.person_data(names=["Maria Lopez", "Sam Gate", "Ana Ruiz", "Kim Park"])
CT = ZoneInfo("America/Chicago")
NS = {"c": "urn:oasis:names:tc:emergency:cap:1.2"}


def with_notifications(site: SiteConfig, **settings: Any) -> SiteConfig:
    return site.model_copy(update={"notifications": NotificationsConfig.model_validate(settings)})


def cap_field(xml: bytes, path: str) -> str | None:
    value = etree.fromstring(xml).findtext(path, namespaces=NS)
    return None if value is None else str(value)


def assert_placed(xml: bytes) -> None:
    """The area has its description and a circle or a polygon."""
    assert cap_field(xml, "c:info/c:area/c:areaDesc")
    shapes = [cap_field(xml, f"c:info/c:area/c:{shape}") for shape in ("circle", "polygon")]
    assert any(shapes), xml.decode()


def circle_text(circle: tuple[float, float, float]) -> str:
    return " ".join((",".join(f"{v:.6f}".rstrip("0").rstrip(".") for v in circle[:2]), f"{circle[2]:g}"))


async def test_every_kind_renders_valid_cap(stores: Stores, site: SiteConfig, tmp_path: Path) -> None:
    site = with_notifications(
        site,
        sender="police@northfield.example.edu",
        sinks={"directory": str(tmp_path / "cap")},
        areas={
            "maple-hall": "41.8812,-87.6315 41.8818,-87.6315 41.8818,-87.6305 41.8812,-87.6305 "
            "41.8812,-87.6315"
        },
    )
    lot_b = await stores.incidents.open(
        location_id="lot-b", summary="Armed robbery", priority=Priority.HIGH, actor="op"
    )
    hall = await stores.incidents.open(
        location_id="maple-hall", summary="Gas leak", priority=Priority.HIGH, actor="op"
    )
    t0 = datetime(2026, 11, 25, 20, 3, tzinfo=UTC)  # 14:03 in Chicago

    warning = await draft(stores, site, kind="timely_warning", incident_id=lot_b.id, actor="coord", now=t0)
    assert warning.headline == "Timely warning: Armed robbery at Parking Lot B"
    assert "Wednesday, November 25, 2026 at 2:03 PM CST" not in warning.description  # incident time, not now
    issued = await approve(stores, site, notification_id=warning.id, actor="Lt. Rivera", now=t0)
    assert issued.sent == "2026-11-25T14:03:00-06:00"
    assert (issued.status, issued.msg_type, issued.references) == ("Actual", "Alert", None)
    assert cap_field(issued.xml, "c:info/c:category") == "Security"
    assert cap_field(issued.xml, "c:info/c:area/c:circle") == "41.8793,-87.6322 0.2"
    assert hashlib.sha256(issued.xml).hexdigest() == issued.sha256

    emergency = await draft(stores, site, kind="emergency", incident_id=hall.id, actor="coord", now=t0)
    em_cap = await approve(stores, site, notification_id=emergency.id, actor="Lt. Rivera", now=t0)
    assert (
        cap_field(
            em_cap.xml,
            "c:info/c:area/c:polygon",
        )
        is not None
    )  # configured polygon beats circle
    assert cap_field(em_cap.xml, "c:info/c:area/c:circle") is None
    assert cap_field(em_cap.xml, "c:info/c:urgency") == "Immediate"

    clear = await draft(
        stores, site, kind="all_clear", incident_id=hall.id, actor="coord", now=t0 + timedelta(hours=1)
    )
    assert clear.follows_id == emergency.id
    clear_cap = await approve(
        stores, site, notification_id=clear.id, actor="Lt. Rivera", now=t0 + timedelta(hours=1)
    )
    assert clear_cap.msg_type == "Update"
    assert (
        clear_cap.references == f"police@northfield.example.edu,{em_cap.identifier},2026-11-25T14:03:00-06:00"
    )
    assert cap_field(clear_cap.xml, "c:info/c:responseType") == "AllClear"

    test = await draft(stores, site, kind="test", actor="coord", now=t0)
    test_cap = await approve(stores, site, notification_id=test.id, actor="Chief Ames", now=t0)
    assert test_cap.status == "Test"
    assert cap_field(test_cap.xml, "c:info/c:area/c:areaDesc") == "Northfield College"

    _, exercise = await record_test(
        stores,
        site,
        description="Shelter-in-place drill",
        started_at=datetime(2026, 10, 14, 10, 0, tzinfo=CT),
        ended_at=datetime(2026, 10, 14, 10, 30, tzinfo=CT),
        announced=False,
        actor="Chief Ames",
        with_cap=True,
        now=t0,
    )
    assert exercise is not None
    assert exercise.status == "Exercise"

    cancel = await draft(stores, site, kind="timely_warning", cancels=warning.id, actor="coord", now=t0)
    cancel_cap = await approve(stores, site, notification_id=cancel.id, actor="Lt. Rivera", now=t0)
    assert cancel_cap.msg_type == "Cancel"
    assert cancel_cap.references is not None
    assert issued.identifier in cancel_cap.references

    for message in (issued, em_cap, clear_cap, test_cap, exercise, cancel_cap):
        assert_valid_cap(message.xml)
        assert_placed(message.xml)
    # A test has no location: it covers the campus (before: areaDesc alone).
    assert cap_field(test_cap.xml, "c:info/c:area/c:circle") == circle_text(campus_circle(site))
    assert cap_field(exercise.xml, "c:info/c:area/c:circle") == circle_text(campus_circle(site))
    assert len({m.identifier for m in (issued, em_cap, clear_cap, test_cap, exercise, cancel_cap)}) == 6


async def test_a_draft_naming_a_victim_is_refused_and_audited(stores: Stores, site: SiteConfig) -> None:
    incident = await stores.incidents.open(
        location_id="lot-b", summary="Robbery of maria LOPEZ at the gate", priority=Priority.HIGH, actor="op"
    )
    await stores.people.add(incident.id, role="victim", name="Maria Lopez", actor="op", now=datetime.now(UTC))
    await stores.people.add(incident.id, role="witness", name="Sam Gate", actor="op", now=datetime.now(UTC))
    with pytest.raises(VictimNamed, match="headline, description") as refused:
        await draft(stores, site, kind="timely_warning", incident_id=incident.id, actor="coord")
    assert "lopez" not in str(refused.value).lower()  # the refusal itself does not repeat the name
    assert await stores.notifications.search() == []

    # A witness's name is not a victim's: "Gate" in the text is fine.
    ok = await draft(
        stores,
        site,
        kind="timely_warning",
        incident_id=incident.id,
        nature="Robbery at the gate",
        actor="coord",
    )
    assert ok.victim_names_checked == 1
    with pytest.raises(VictimNamed, match="instruction"):
        await edit(
            stores, notification_id=ok.id, changes={"instruction": "Ask Maria about it"}, actor="coord"
        )

    # Recorded after drafting: approval checks again and issues nothing.
    late = await draft(
        stores,
        site,
        kind="timely_warning",
        incident_id=incident.id,
        nature="Robbery at the gate",
        texts={"headline": "Robbery: Ana Ruiz saw the suspect"},
        actor="coord",
    )
    await stores.people.add(incident.id, role="victim", name="Ana Ruiz", actor="op", now=datetime.now(UTC))
    with pytest.raises(VictimNamed, match="headline"):
        await approve(stores, site, notification_id=late.id, actor="Lt. Rivera")
    assert (await stores.notifications.get(late.id)).status == "draft"
    assert await stores.notifications.cap_message(late.id) is None

    audit = await stores.audit.entries("incident", incident.id)
    refusals = [e for e in audit if e.action == "notification.victim_name_refused"]
    assert [r.details["fields"] for r in refusals] == [
        ["headline", "description"],
        ["instruction"],
        ["headline"],
    ]
    # What this feature writes to the audit log holds roles and field names, never a name.
    ours = json.dumps([e.details for e in audit if e.action != "incident.opened"]).lower()
    assert "lopez" not in ours
    assert "ruiz" not in ours
    assert await stores.people.counts(incident.id) == {"victim": 2, "witness": 1, "suspect": 0, "reporter": 0}


async def test_decisions_need_an_actor_and_are_recorded(stores: Stores, site: SiteConfig) -> None:
    incident = await stores.incidents.open(
        location_id="quad", summary="Assault", priority=Priority.HIGH, actor="op"
    )
    first = await draft(stores, site, kind="timely_warning", incident_id=incident.id, actor="coord")
    with pytest.raises(ValidationFailed) as info:
        await approve(stores, site, notification_id=first.id, actor="  ")
    assert info.value.fields == {"actor"}
    with pytest.raises(ValidationFailed) as info:
        await decline(stores, notification_id=first.id, actor="Lt. Rivera", reason="")
    assert info.value.fields == {"reason"}
    when = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
    declined = await decline(
        stores,
        notification_id=first.id,
        actor="Lt. Rivera",
        reason="suspect in custody; no continuing threat",
        now=when,
    )
    assert (declined.status, declined.decided_by, declined.decided_at) == ("declined", "Lt. Rivera", when)
    assert declined.decline_reason == "suspect in custody; no continuing threat"
    with pytest.raises(NotificationConflict, match="declined"):
        await approve(stores, site, notification_id=first.id, actor="Lt. Rivera")
    # Before: the XML approval would have sent, looking ready to send.
    with pytest.raises(NotificationConflict, match=r"was declined by Lt\. Rivera .*none will be sent"):
        await preview(stores, site, first.id)

    second = await draft(stores, site, kind="timely_warning", incident_id=incident.id, actor="coord")
    edited = await edit(
        stores, notification_id=second.id, changes={"headline": "Assault on the Quad"}, actor="coord"
    )
    assert edited.version == 2
    message = await approve(
        stores, site, notification_id=second.id, actor="Lt. Rivera", basis="pattern of assaults"
    )
    approved = await stores.notifications.get(second.id)
    assert (approved.status, approved.basis, approved.decided_by) == (
        "approved",
        "pattern of assaults",
        "Lt. Rivera",
    )
    assert cap_field(message.xml, "c:info/c:headline") == "Assault on the Quad"
    assert await preview(stores, site, second.id) == message.xml  # what was issued, byte for byte
    with pytest.raises(NotificationConflict):
        await edit(stores, notification_id=second.id, changes={"headline": "changed later"}, actor="coord")
    actions = [e.action for e in await stores.audit.entries("notification", second.id)]
    assert actions == ["notification.drafted", "notification.edited", "notification.approved"]


@dataclass
class Receiver:
    """A webhook receiver that fails the first ``failures`` requests and de-duplicates by identifier."""

    failures: int
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    accepted: set[str] = field(default_factory=set)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append((dict(request.headers), body))
        if len(self.requests) <= self.failures:
            return web.Response(status=500, text="receiver not ready")
        identifier = request.headers[IDENTIFIER_HEADER]
        if identifier in self.accepted:
            return web.Response(status=409, text="duplicate")
        self.accepted.add(identifier)
        return web.Response(status=200, text="ok")


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    state = Receiver(failures=1)
    app = web.Application()
    app.router.add_post("/cap", state.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield state, f"http://127.0.0.1:{port}/cap"
    finally:
        await runner.cleanup()


async def test_webhook_delivery_retries_with_backoff_and_is_idempotent(
    stores: Stores, site: SiteConfig, tmp_path: Path, receiver: tuple[Receiver, str]
) -> None:
    state, url = receiver
    site = with_notifications(
        site,
        sinks={
            "directory": str(tmp_path / "cap"),
            "webhook": {"url": url, "secret_env": "CAP_HOOK_SECRET", "max_attempts": 4},
        },
    )
    incident = await stores.incidents.open(
        location_id="library", summary="Fire", priority=Priority.HIGH, actor="op"
    )
    t0 = datetime.now(UTC)
    notification = await draft(stores, site, kind="emergency", incident_id=incident.id, actor="coord", now=t0)
    message = await approve(stores, site, notification_id=notification.id, actor="Lt. Rivera", now=t0)
    sinks = sinks_for(site, env={"CAP_HOOK_SECRET": "s3cret"})
    deliverer = Deliverer(stores, sinks, initial_delay=10, max_delay=60)

    first = {d.sink: d for d in await deliverer.deliver_due(now=t0)}
    assert first["directory"].state == "delivered"
    assert (tmp_path / "cap" / f"{message.identifier}.xml").read_bytes() == message.xml
    hook = first["webhook"]
    assert (hook.state, hook.attempts) == ("pending", 1)
    assert hook.last_error is not None
    assert "HTTP 500" in hook.last_error
    assert hook.next_attempt_at is not None
    assert timedelta(seconds=8) <= hook.next_attempt_at - t0 <= timedelta(seconds=12)  # 10 s +-20 % jitter

    assert await deliverer.deliver_due(now=t0 + timedelta(seconds=5)) == []  # not due yet
    [retried] = await deliverer.deliver_due(now=t0 + timedelta(seconds=13))
    assert (retried.sink, retried.state, retried.attempts) == ("webhook", "delivered", 2)
    assert retried.last_error is None

    assert len(state.requests) == 2
    for headers, body in state.requests:
        assert body == message.xml
        assert headers[IDENTIFIER_HEADER] == message.identifier
        assert headers["Content-Type"] == "application/cap+xml"
        expected = hmac.new(b"s3cret", message.xml, hashlib.sha256).hexdigest()
        assert headers[SIGNATURE_HEADER] == f"sha256={expected}"
    # The same message again (a retry after a lost acknowledgement): the receiver knows it by header.
    assert await sinks["webhook"].send(message) == "HTTP 409 (receiver already had it)"
    assert state.accepted == {message.identifier}

    deliveries = (await stores.notifications.deliveries([notification.id]))[notification.id]
    assert {d.sink: d.state for d in deliveries} == {"directory": "delivered", "webhook": "delivered"}
    actions = [e.action for e in await stores.audit.entries("notification", notification.id)]
    assert actions.count("notification.delivery_retry") == 1
    assert actions.count("notification.delivered") == 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_delivery_that_keeps_failing_ends_failed_visible_and_can_be_requeued(
    stores: Stores, site: SiteConfig, tmp_path: Path
) -> None:
    closed = f"http://127.0.0.1:{free_port()}/cap"  # nothing listens there
    site = with_notifications(
        site, sinks={"directory": str(tmp_path / "cap"), "webhook": {"url": closed, "max_attempts": 2}}
    )
    notification = await draft(
        stores, site, kind="test", actor="coord", now=datetime(2026, 11, 25, tzinfo=UTC)
    )
    t0 = datetime.now(UTC)
    await approve(stores, site, notification_id=notification.id, actor="Chief Ames", now=t0)
    deliverer = Deliverer(stores, sinks_for(site), initial_delay=1, max_delay=2)
    await deliverer.deliver_due(now=t0)
    [last] = await deliverer.deliver_due(now=t0 + timedelta(minutes=1))
    assert (last.sink, last.state, last.attempts, last.next_attempt_at) == ("webhook", "failed", 2, None)
    assert last.last_error is not None
    assert "127.0.0.1" in last.last_error
    assert await deliverer.deliver_due(now=t0 + timedelta(hours=1)) == []  # failed rows are not retried
    kept = (await stores.notifications.deliveries([notification.id]))[notification.id]
    assert [(d.sink, d.state) for d in kept] == [("directory", "delivered"), ("webhook", "failed")]

    assert await stores.notifications.retry_failed(notification.id, actor="admin", now=t0) == 1
    [again] = await deliverer.deliver_due(now=t0 + timedelta(hours=1))
    assert (again.state, again.attempts, again.max_attempts) == ("pending", 3, 4)


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 OK"


async def test_smtp_delivery_sends_the_alert_with_its_cap_attached(
    stores: Stores, site: SiteConfig, tmp_path: Path
) -> None:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        site = with_notifications(
            site,
            sinks={
                "directory": str(tmp_path / "cap"),
                "smtp": {
                    "host": "127.0.0.1",
                    "port": port,
                    "from": "alerts@northfield.example.edu",
                    "to": ["all-students@northfield.example.edu", "staff@northfield.example.edu"],
                },
            },
        )
        incident = await stores.incidents.open(
            location_id="quad", summary="Armed person", priority=Priority.HIGH, actor="op"
        )
        notification = await draft(stores, site, kind="emergency", incident_id=incident.id, actor="coord")
        message = await approve(stores, site, notification_id=notification.id, actor="Lt. Rivera")
        results = {d.sink: d for d in await Deliverer(stores, sinks_for(site)).deliver_due()}
        assert results["smtp"].state == "delivered"
        assert results["smtp"].detail == "mailed to 2 recipient(s)"
    finally:
        controller.stop()
    [(sender, recipients, raw)] = mailbox.messages
    assert sender == "alerts@northfield.example.edu"
    assert recipients == ["all-students@northfield.example.edu", "staff@northfield.example.edu"]
    mail = message_from_bytes(raw, policy=policy.default)
    assert isinstance(mail, EmailMessage)
    assert mail["Subject"] == "EMERGENCY: Armed person at Main Quad"
    assert (
        str(mail["Message-ID"]).strip() == f"<{message.identifier}@northfield.example.edu>"
    )  # may be folded
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_content_type() == "application/cap+xml"
    assert attachment.get_payload(decode=True) == message.xml


async def test_emergency_tests_are_listed_by_the_institutions_year(stores: Stores, site: SiteConfig) -> None:
    new_years_eve = datetime(2026, 12, 31, 23, 30, tzinfo=CT)  # already 2027 in UTC
    test, message = await record_test(
        stores,
        site,
        description="Campus-wide siren test",
        started_at=new_years_eve,
        ended_at=new_years_eve + timedelta(minutes=20),
        announced=True,
        actor="Chief Ames",
    )
    assert message is None
    assert test.notification_id is None
    assert [t.id for t in await emergency_tests_of_year(stores, site, 2026)] == [test.id]
    assert await emergency_tests_of_year(stores, site, 2027) == []
    [stored] = await emergency_tests_of_year(stores, site, 2026)
    assert (stored.started_at, stored.announced, stored.description) == (
        new_years_eve,
        True,
        "Campus-wide siren test",
    )
    with pytest.raises(ValidationFailed) as info:
        await record_test(
            stores,
            site,
            description="x",
            started_at=new_years_eve,
            ended_at=new_years_eve,
            announced=True,
            actor="a",
        )
    assert [p.as_dict() for p in info.value.problems] == [
        {"field": "ended_at", "reason": "must be after started_at", "related": ["started_at"]}
    ]


def test_notify_cli_round_trip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VMSBRIDGE_DATA", str(tmp_path / "data"))  # the default directory sink lives here
    db = ["--db", f"sqlite:///{tmp_path / 'notify.db'}"]
    assert main(["db", "upgrade", *db]) == 0
    assert main(["incidents", "open", "--location", "lot-b", "--summary", "Robbery", *db]) == 0
    assert main(["incidents", "person", "add", "1", "--role", "victim", "--name", "Kim Park", *db]) == 0
    capsys.readouterr()
    assert main(["incidents", "show", "1", "--json", *db]) == 0
    shown = capsys.readouterr().out
    assert json.loads(shown)["people"]["victim"] == 1
    assert "Park" not in shown

    assert main(["notify", "draft", "--incident", "1", "--kind", "timely_warning", "--json", *db]) == 0
    drafted = json.loads(capsys.readouterr().out)
    assert drafted["id"] == 1
    assert_valid_cap(drafted["cap"].encode())
    assert (
        main(
            ["notify", "draft", "--incident", "1", "--kind", "emergency", "--nature", "Kim park robbed", *db]
        )
        == 1
    )
    assert "victim" in capsys.readouterr().err

    assert main(["notify", "approve", "1", "--actor", "Lt. Rivera", "--json", *db]) == 0
    approved = json.loads(capsys.readouterr().out)
    assert [(d["sink"], d["state"]) for d in approved["deliveries"]] == [("directory", "delivered")]
    written = tmp_path / "data" / "cap" / f"{approved['identifier']}.xml"
    assert main(["notify", "show", "1", "--cap", *db]) == 0
    assert capsys.readouterr().out.encode() == written.read_bytes()

    assert main(["notify", "list", *db]) == 0
    listing = capsys.readouterr().out
    assert "timely_warning  approved" in listing
    assert "directory: delivered (1/5 attempts)" in listing

    assert main(["notify", "tests", "--year", "2026", *db]) == 0
    assert "no emergency-response test recorded in 2026" in capsys.readouterr().out
    record = [
        "notify",
        "test-record",
        "--description",
        "Evacuation drill",
        "--start",
        "2026-10-14T10:00-05:00",
    ]
    record += ["--end", "2026-10-14T10:40-05:00", "--unannounced", "--cap", "--actor", "Chief Ames", "--json"]
    assert main([*record, *db]) == 0
    recorded = json.loads(capsys.readouterr().out)
    assert recorded["announced"] is False
    assert recorded["notification"] == 2
    assert main(["notify", "tests", "--year", "2026", "--json", *db]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["meets_annual_test"] is True
    assert [t["description"] for t in listed["tests"]] == ["Evacuation drill"]
    assert main(["notify", "show", "2", "--cap", *db]) == 0
    exercise = capsys.readouterr().out
    assert "<status>Exercise</status>" in exercise
    assert_valid_cap(exercise.encode())
    assert_placed(exercise.encode())  # before: no location, so areaDesc alone

    assert main(["notify", "draft", "--incident", "1", "--kind", "timely_warning", *db]) == 0
    assert main(["notify", "decline", "3", "--actor", "Lt. Rivera", "--reason", "in custody", *db]) == 0
    capsys.readouterr()
    assert main(["notify", "show", "3", "--cap", *db]) == 1
    refused = capsys.readouterr()
    assert "was declined" in refused.err
    assert "<alert" not in refused.out


def test_notification_config_errors_name_the_key_path() -> None:
    from vmsbridge.config import default_config_path, parse_site_config

    bad = """
[notifications]
sender = "campus police"
[notifications.areas]
lot-b = "41.1,-87.1 41.2,-87.1 41.2,-87.2 41.3,-87.3"
[notifications.sinks.webhook]
url = "ftp://example.edu/hook"
"""
    with pytest.raises(ConfigError) as caught:
        parse_site_config(default_config_path().read_text(encoding="utf-8") + bad)
    paths = sorted(p.path for p in caught.value.problems)
    assert paths == ["notifications.areas", "notifications.sender", "notifications.sinks.webhook.url"]
    [area] = [p for p in caught.value.problems if p.path == "notifications.areas"]
    assert "lot-b: a CAP polygon must end on its first point" in area.message


async def test_the_service_deliverer_retries_until_the_webhook_takes_it(
    stores: Stores, site: SiteConfig, tmp_path: Path, receiver: tuple[Receiver, str]
) -> None:
    state, url = receiver  # answers 500 to the first request
    site = with_notifications(site, sinks={"directory": str(tmp_path / "cap"), "webhook": {"url": url}})
    deliverer = Deliverer(stores, sinks_for(site), initial_delay=0.05, max_delay=0.2)
    running = asyncio.create_task(deliverer.run(poll_seconds=0.1))
    try:
        incident = await stores.incidents.open(
            location_id="library", summary="Gas leak", priority=Priority.HIGH, actor="op"
        )
        notification = await draft(stores, site, kind="emergency", incident_id=incident.id, actor="coord")
        message = await approve(stores, site, notification_id=notification.id, actor="Lt. Rivera")

        async def delivered() -> None:
            while True:
                rows = (await stores.notifications.deliveries([notification.id]))[notification.id]
                if all(d.state == "delivered" for d in rows):
                    return
                await asyncio.sleep(0.05)

        await asyncio.wait_for(delivered(), WAIT)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    assert len(state.requests) == 2  # the 500, then the retry
    assert state.accepted == {message.identifier}


async def test_a_location_without_coordinates_gets_the_campus_circle(
    stores: Stores, site: SiteConfig, tmp_path: Path
) -> None:
    """Before: riverside-mall has no lat/lon, so its alerts said where only in words."""
    site = with_notifications(site, sinks={"directory": str(tmp_path / "cap")})
    mall = await stores.incidents.open(
        location_id="riverside-mall", summary="Armed robbery", priority=Priority.HIGH, actor="op"
    )
    t0 = datetime(2026, 11, 25, 20, 3, tzinfo=UTC)
    warning = await draft(stores, site, kind="timely_warning", incident_id=mall.id, actor="coord", now=t0)
    issued = await approve(stores, site, notification_id=warning.id, actor="Lt. Rivera", now=t0)
    assert_valid_cap(issued.xml)
    assert cap_field(issued.xml, "c:info/c:area/c:areaDesc") == "Off campus"
    circle = campus_circle(site)
    assert cap_field(issued.xml, "c:info/c:area/c:circle") == circle_text(circle)
    # The circle reaches every location with coordinates, with the configured margin to spare.
    lat, lon, radius = circle
    for loc in site.locations:
        if loc.lat is not None and loc.lon is not None:
            assert distance_km((lat, lon), (loc.lat, loc.lon)) + site.notifications.circle_radius_km <= radius
    assert 1.0 < radius < 5.0  # the example campus, boathouse included, is a couple of km across

    nowhere = site.model_copy(
        update={"locations": [loc.model_copy(update={"lat": None, "lon": None}) for loc in site.locations]}
    )
    test = await draft(stores, nowhere, kind="test", actor="coord", now=t0)
    with pytest.raises(ConfigError, match="needs a circle or polygon"):
        await preview(stores, nowhere, test.id)  # refused, rather than a message placed nowhere


async def test_an_all_clear_ends_the_latest_warning_still_in_force(stores: Stores, site: SiteConfig) -> None:
    """Before: it followed the latest approved notification of any other kind: a test or a Cancel."""
    incident = await stores.incidents.open(
        location_id="quad", summary="Armed person", priority=Priority.HIGH, actor="op"
    )
    t0 = datetime(2026, 11, 25, 20, 0, tzinfo=UTC)

    async def issue(
        minutes: int, kind: str, *, follows: int | None = None, cancels: int | None = None
    ) -> int:
        at = t0 + timedelta(minutes=minutes)
        made = await draft(
            stores,
            site,
            kind=kind,
            incident_id=incident.id,
            actor="coord",
            now=at,
            follows=follows,
            cancels=cancels,
        )
        await approve(stores, site, notification_id=made.id, actor="Lt. Rivera", now=at)
        return made.id

    alert = await issue(0, "emergency")
    warning = await issue(1, "timely_warning")
    await issue(2, "timely_warning", cancels=warning)  # withdrawn: nothing to clear there
    await issue(3, "test")  # a test is not a warning in force
    clear = await draft(
        stores, site, kind="all_clear", incident_id=incident.id, actor="coord", now=t0 + timedelta(minutes=4)
    )
    assert clear.follows_id == alert
    await approve(stores, site, notification_id=clear.id, actor="Lt. Rivera", now=t0 + timedelta(minutes=4))

    with pytest.raises(ValidationFailed, match="still in force") as refused:
        await draft(stores, site, kind="all_clear", incident_id=incident.id, actor="coord")
    assert (refused.value.problems[0].field, refused.value.problems[0].related) == ("kind", ("follows",))
    update = await issue(5, "emergency", follows=alert)  # the threat is back: an Update is in force
    again = await draft(stores, site, kind="all_clear", incident_id=incident.id, actor="coord")
    assert again.follows_id == update


@dataclass
class BuggySink:
    """A sink with a bug: its first send raises something no sink is supposed to raise."""

    name: str = "directory"
    calls: int = 0

    async def send(self, message: CapMessage) -> str:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("bug in the sink")
        return "ok"


async def test_the_service_deliverer_survives_an_unexpected_error(stores: Stores, site: SiteConfig) -> None:
    """Before: any exception but a database or OS error ended the delivery task for good."""
    sink = BuggySink()
    deliverer = Deliverer(stores, {"directory": sink}, initial_delay=0.05, max_delay=0.2)
    running = asyncio.create_task(deliverer.run(poll_seconds=0.1))
    try:
        notification = await draft(stores, site, kind="test", actor="coord")
        await approve(stores, site, notification_id=notification.id, actor="Chief Ames")

        async def delivered() -> NotificationDelivery:
            while True:
                [row] = (await stores.notifications.deliveries([notification.id]))[notification.id]
                if row.state == "delivered":
                    return row
                await asyncio.sleep(0.05)

        row = await asyncio.wait_for(delivered(), WAIT)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    assert (sink.calls, row.attempts) == (2, 2)  # the bug was one attempt, kept pending and retried
