"""``vmsbridge notify ...``: timely warnings, emergency notifications, tests and all-clears as CAP 1.2."""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from vmsbridge.cli.common import add_common_options, load_site, local_time, print_json, with_stores
from vmsbridge.cli.crimelog import aware_time

if TYPE_CHECKING:
    from vmsbridge.app import Stores
    from vmsbridge.config import SiteConfig
    from vmsbridge.model.notifications import EmergencyTest, Notification, NotificationDelivery

# Kept here too so that --help needs no import of the service layer.
KIND_NAMES = ("timely_warning", "emergency", "test", "all_clear")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "notify",
        help="timely warnings, emergency notifications, tests, all-clears (CAP 1.2)",
        description="A notification is a draft until a named actor approves it (or declines it, with "
        "the reason). Approval renders it as CAP 1.2 and queues it for every sink in [notifications] "
        "(a directory always; a webhook and e-mail if configured); failed deliveries are retried with "
        "backoff and stay visible in 'notify list'. Victims are never named: text containing a name "
        "recorded with 'incidents person add --role victim' is refused.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    drf = actions.add_parser("draft", help="a draft from an incident (or by hand)")
    add_common_options(drf)
    drf.add_argument("--kind", required=True, choices=KIND_NAMES)
    drf.add_argument("--incident", type=int, default=None, metavar="ID")
    drf.add_argument("--location", default=None, metavar="ID", help="default: the incident's location")
    drf.add_argument("--nature", default=None, help="plain-language nature (default: the incident summary)")
    drf.add_argument("--follows", type=int, default=None, metavar="ID", help="an Update of this notification")
    drf.add_argument("--cancels", type=int, default=None, metavar="ID", help="a Cancel of this notification")
    drf.add_argument("--headline", default=None, help="replace the drafted headline")
    drf.add_argument("--description", default=None, help="replace the drafted description")
    drf.add_argument("--instruction", default=None, help="replace the drafted instruction")
    drf.add_argument("--actor", default=None, help="who drafts it (default: the login name)")
    drf.add_argument("--json", action="store_true", help="print {id, cap, ...}: cap is what approval sends")
    drf.set_defaults(handler=draft_notification)
    drf.set_defaults(field_flags={"incident_id": "--incident", "location_id": "--location"})

    edt = actions.add_parser("edit", help="change a draft's text (checked for victim names again)")
    add_common_options(edt)
    edt.add_argument("notification_id", type=int, metavar="ID")
    edt.add_argument("--headline", default=None)
    edt.add_argument("--description", default=None)
    edt.add_argument("--instruction", default=None)
    edt.add_argument("--actor", default=None)
    edt.set_defaults(handler=edit_notification)

    show = actions.add_parser("show", help="one notification, its decision and deliveries")
    add_common_options(show)
    show.add_argument("notification_id", type=int, metavar="ID")
    show.add_argument("--cap", action="store_true", help="print the CAP XML (issued, or what approval sends)")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=show_notification)

    apv = actions.add_parser("approve", help="issue a draft: CAP message + delivery to every sink")
    add_common_options(apv)
    apv.add_argument("notification_id", type=int, metavar="ID")
    apv.add_argument("--actor", required=True, help="the approving person (recorded)")
    apv.add_argument("--basis", default=None, help="why it is issued (default: the legal basis of its kind)")
    apv.add_argument("--json", action="store_true")
    apv.set_defaults(handler=approve_notification)

    dec = actions.add_parser("decline", help="decide not to issue a draft, with the reason")
    add_common_options(dec)
    dec.add_argument("notification_id", type=int, metavar="ID")
    dec.add_argument("--actor", required=True)
    dec.add_argument("--reason", required=True, help="e.g. issuing would compromise containing it")
    dec.set_defaults(handler=decline_notification)

    lst = actions.add_parser("list", help="notifications with their delivery state per sink")
    add_common_options(lst)
    lst.add_argument("--limit", type=int, default=50)
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(handler=list_notifications)

    dlv = actions.add_parser("deliver", help="send due deliveries now (retries of failed ones included)")
    add_common_options(dlv)
    dlv.add_argument(
        "--wait", type=float, default=0.0, metavar="SECONDS", help="keep retrying for up to this long"
    )
    dlv.add_argument(
        "--requeue",
        type=int,
        default=None,
        metavar="ID",
        help="give a notification's failed deliveries new tries",
    )
    dlv.add_argument("--actor", default=None, help="who re-queues (default: the login name)")
    dlv.add_argument("--json", action="store_true")
    dlv.set_defaults(handler=deliver_notifications)

    rec = actions.add_parser("test-record", help="record an emergency-response test (at least one a year)")
    add_common_options(rec)
    rec.add_argument("--description", required=True, help="what was exercised")
    rec.add_argument("--start", required=True, metavar="ISO", help="start time (with offset)")
    rec.add_argument("--end", required=True, metavar="ISO", help="end time (with offset)")
    announced = rec.add_mutually_exclusive_group(required=True)
    announced.add_argument("--announced", dest="announced", action="store_true")
    announced.add_argument("--unannounced", dest="announced", action="store_false")
    rec.add_argument("--cap", action="store_true", help="also issue a CAP status=Exercise message")
    rec.add_argument("--actor", required=True, help="who records (and approves its CAP message)")
    rec.add_argument("--json", action="store_true")
    rec.set_defaults(handler=record_emergency_test)
    rec.set_defaults(field_flags={"started_at": "--start", "ended_at": "--end"})

    tst = actions.add_parser("tests", help="the emergency-response tests of a year")
    add_common_options(tst)
    tst.add_argument("--year", type=int, required=True)
    tst.add_argument("--json", action="store_true")
    tst.set_defaults(handler=list_tests)


def _actor(args: argparse.Namespace) -> str:
    return str(args.actor or getpass.getuser())


def _texts(args: argparse.Namespace) -> dict[str, str]:
    return {
        name: getattr(args, name)
        for name in ("headline", "description", "instruction")
        if getattr(args, name) is not None
    }


def delivery_dict(delivery: NotificationDelivery) -> dict[str, Any]:
    return {
        "sink": delivery.sink,
        "state": delivery.state,
        "attempts": delivery.attempts,
        "max_attempts": delivery.max_attempts,
        "next_attempt_at": delivery.next_attempt_at.isoformat() if delivery.next_attempt_at else None,
        "last_error": delivery.last_error,
        "delivered_at": delivery.delivered_at.isoformat() if delivery.delivered_at else None,
        "detail": delivery.detail,
    }


def notification_dict(n: Notification, deliveries: list[NotificationDelivery]) -> dict[str, Any]:
    return {
        "id": n.id,
        "kind": n.kind,
        "status": n.status,
        "incident": n.incident_id,
        "identifier": n.identifier,
        "msg_type": n.msg_type,
        "cap_status": n.cap_status,
        "follows": n.follows_id,
        "area": n.area_desc,
        "headline": n.headline,
        "description": n.description,
        "instruction": n.instruction,
        "victim_names_checked": n.victim_names_checked,
        "created_at": n.created_at.isoformat(),
        "created_by": n.created_by,
        "basis": n.basis,
        "decided_at": n.decided_at.isoformat() if n.decided_at else None,
        "decided_by": n.decided_by,
        "decline_reason": n.decline_reason,
        "deliveries": [delivery_dict(d) for d in deliveries],
    }


def _delivery_line(delivery: NotificationDelivery, site: SiteConfig) -> str:
    line = f"{delivery.sink}: {delivery.state} ({delivery.attempts}/{delivery.max_attempts} attempts"
    if delivery.state == "pending" and delivery.next_attempt_at is not None:
        line += f", next {local_time(delivery.next_attempt_at, site)}"
    line += ")"
    if delivery.last_error and delivery.state != "delivered":
        line += f" last error: {delivery.last_error}"
    return line


def _print_deliveries(deliveries: list[NotificationDelivery], site: SiteConfig) -> None:
    for delivery in deliveries:
        print(f"  {_delivery_line(delivery, site)}")


def draft_notification(args: argparse.Namespace) -> int:
    from vmsbridge.clery.notifications import draft, preview

    async def work(stores: Stores, site: SiteConfig) -> tuple[Notification, bytes]:
        notification = await draft(
            stores,
            site,
            kind=args.kind,
            actor=_actor(args),
            incident_id=args.incident,
            location_id=args.location,
            nature=args.nature,
            follows=args.follows,
            cancels=args.cancels,
            texts=_texts(args),
        )
        return notification, await preview(stores, site, notification.id)

    notification, cap = with_stores(args, work)
    if args.json:
        print_json({**notification_dict(notification, []), "cap": cap.decode("utf-8")})
    else:
        print(f"draft notification {notification.id} ({notification.kind}, CAP {notification.msg_type}):")
        print(f"  {notification.headline}")
        print(f"approve it with: vmsbridge notify approve {notification.id} --actor NAME")
    return 0


def edit_notification(args: argparse.Namespace) -> int:
    from vmsbridge.clery.notifications import edit

    notification = with_stores(
        args,
        lambda stores, _: edit(
            stores, notification_id=args.notification_id, changes=_texts(args), actor=_actor(args)
        ),
    )
    print(f"notification {notification.id} edited (version {notification.version})")
    return 0


def show_notification(args: argparse.Namespace) -> int:
    from vmsbridge.clery.notifications import preview

    async def work(
        stores: Stores, site: SiteConfig
    ) -> tuple[Notification, list[NotificationDelivery], bytes | None]:
        notification = await stores.notifications.get(args.notification_id)
        deliveries = (await stores.notifications.deliveries([notification.id]))[notification.id]
        cap = await preview(stores, site, notification.id) if args.cap else None
        return notification, deliveries, cap

    notification, deliveries, cap = with_stores(args, work)
    if cap is not None:
        sys.stdout.write(cap.decode("utf-8"))
        return 0
    if args.json:
        print_json(notification_dict(notification, deliveries))
        return 0
    site = load_site(args)
    print(
        f"notification {notification.id}: {notification.kind} ({notification.status}), "
        f"CAP {notification.msg_type}"
    )
    print(f"  {notification.headline}\n  {notification.description}\n  {notification.instruction}")
    if notification.decided_at is not None:
        print(f"  decided by {notification.decided_by} at {local_time(notification.decided_at, site)}")
    if notification.basis:
        print(f"  basis: {notification.basis}")
    if notification.decline_reason:
        print(f"  not issued: {notification.decline_reason}")
    _print_deliveries(deliveries, site)
    return 0


async def _deliver_now(stores: Stores, site: SiteConfig, wait: float = 0.0) -> list[NotificationDelivery]:
    from vmsbridge.clery.delivery import Deliverer, sinks_for

    deliverer = Deliverer(stores, sinks_for(site))
    if wait > 0:
        return await deliverer.deliver_until_settled(wait)
    return await deliverer.deliver_due()


def approve_notification(args: argparse.Namespace) -> int:
    from vmsbridge.clery.notifications import approve

    async def work(stores: Stores, site: SiteConfig) -> tuple[str, list[NotificationDelivery]]:
        message = await approve(
            stores, site, notification_id=args.notification_id, actor=args.actor, basis=args.basis
        )
        # Delivery is attempted at once; whatever fails stays queued for 'notify deliver'.
        await _deliver_now(stores, site)
        deliveries = (await stores.notifications.deliveries([args.notification_id]))[args.notification_id]
        return message.identifier, deliveries

    identifier, deliveries = with_stores(args, work)
    if args.json:
        print_json(
            {
                "id": args.notification_id,
                "identifier": identifier,
                "deliveries": [delivery_dict(d) for d in deliveries],
            }
        )
        return 0
    print(f"notification {args.notification_id} approved by {args.actor}; CAP identifier {identifier}")
    _print_deliveries(deliveries, load_site(args))
    return 0


def decline_notification(args: argparse.Namespace) -> int:
    from vmsbridge.clery.notifications import decline

    with_stores(
        args,
        lambda stores, _: decline(
            stores, notification_id=args.notification_id, actor=args.actor, reason=args.reason
        ),
    )
    print(f"notification {args.notification_id} declined by {args.actor}: {args.reason}")
    return 0


def list_notifications(args: argparse.Namespace) -> int:
    async def work(stores: Stores, _: SiteConfig) -> list[tuple[Notification, list[NotificationDelivery]]]:
        notifications = await stores.notifications.search(limit=args.limit)
        deliveries = await stores.notifications.deliveries([n.id for n in notifications])
        return [(n, deliveries[n.id]) for n in notifications]

    rows = with_stores(args, work)
    if args.json:
        print_json([notification_dict(n, d) for n, d in rows])
        return 0
    if not rows:
        print("no notifications")
        return 0
    site = load_site(args)
    for notification, deliveries in rows:
        incident = f"incident {notification.incident_id}" if notification.incident_id else "by hand"
        print(
            f"#{notification.id:<4} {notification.kind:<15} {notification.status:<9} "
            f"{notification.msg_type:<7} {incident}  {notification.headline}"
        )
        _print_deliveries(deliveries, site)
    return 0


def deliver_notifications(args: argparse.Namespace) -> int:
    async def work(stores: Stores, site: SiteConfig) -> tuple[int, list[NotificationDelivery]]:
        requeued = 0
        if args.requeue is not None:
            await stores.notifications.get(args.requeue)
            requeued = await stores.notifications.retry_failed(
                args.requeue, actor=_actor(args), now=datetime.now(UTC)
            )
        return requeued, await _deliver_now(stores, site, args.wait)

    requeued, deliveries = with_stores(args, work)
    if args.json:
        print_json({"requeued": requeued, "attempted": [delivery_dict(d) for d in deliveries]})
        return 0
    if args.requeue is not None:
        print(f"re-queued {requeued} failed deliveries of notification {args.requeue}")
    if not deliveries:
        print("nothing was due")
    _print_deliveries(deliveries, load_site(args))
    return 0 if all(d.state != "failed" for d in deliveries) else 1


def test_dict(test: EmergencyTest) -> dict[str, Any]:
    return {
        "id": test.id,
        "description": test.description,
        "start": test.started_at.isoformat(),
        "end": test.ended_at.isoformat(),
        "announced": test.announced,
        "notification": test.notification_id,
        "recorded_by": test.recorded_by,
    }


def record_emergency_test(args: argparse.Namespace) -> int:
    from vmsbridge.clery.notifications import record_test

    start, end = aware_time("--start", args.start), aware_time("--end", args.end)

    async def work(stores: Stores, site: SiteConfig) -> tuple[EmergencyTest, str | None]:
        test, message = await record_test(
            stores,
            site,
            description=args.description,
            started_at=start,
            ended_at=end,
            announced=args.announced,
            actor=args.actor,
            with_cap=args.cap,
        )
        if message is not None:
            await _deliver_now(stores, site)
        return test, message.identifier if message else None

    test, identifier = with_stores(args, work)
    if args.json:
        print_json({**test_dict(test), "cap_identifier": identifier})
        return 0
    kind = "announced" if test.announced else "unannounced"
    print(f"emergency test {test.id} recorded ({kind}, {local_time(test.started_at, load_site(args))})")
    if identifier:
        print(f"  CAP Exercise message {identifier} issued as notification {test.notification_id}")
    return 0


def list_tests(args: argparse.Namespace) -> int:
    from vmsbridge.clery.notifications import emergency_tests_of_year

    tests = with_stores(args, lambda stores, site: emergency_tests_of_year(stores, site, args.year))
    if args.json:
        print_json(
            {"year": args.year, "meets_annual_test": bool(tests), "tests": [test_dict(t) for t in tests]}
        )
        return 0
    if not tests:
        print(
            f"no emergency-response test recorded in {args.year}: the Clery Act requires at least one "
            "test each calendar year"
        )
        return 0
    site = load_site(args)
    for test in tests:
        kind = "announced" if test.announced else "unannounced"
        cap = f"  CAP notification {test.notification_id}" if test.notification_id else ""
        print(
            f"#{test.id:<4} {local_time(test.started_at, site)} .. {local_time(test.ended_at, site)}  "
            f"{kind}  {test.description}{cap}"
        )
    return 0
