"""``vmsbridge rules``: the alarm rules a site file switches on, as the engine will run them, and
(``--failed``) the events the running engine's rules failed on and set aside."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from functools import partial
from typing import TYPE_CHECKING, Any

from vmsbridge.cli.common import add_common_options, load_site, local_time, print_json, with_stores

if TYPE_CHECKING:
    from vmsbridge.config import SiteConfig
    from vmsbridge.config.rules import Rule
    from vmsbridge.store.stores import Stores


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "rules",
        help="list the alarm rules the site file switches on (templates and its own)",
        description="Prints each active rule: what triggers it, its conditions and its actions, in "
        "the order `vmsbridge run` applies them. A bad rule makes this exit 2 naming its key, like "
        "check-config. To change rules on a running bridge, edit the file and send it SIGHUP. "
        "--failed lists instead the events a rule kept failing on (an error tied to the event, not "
        "to the database), which the engine set aside to go on with the next ones.",
    )
    add_common_options(parser)
    parser.add_argument("--json", action="store_true", help="one JSON list, as validated")
    parser.add_argument(
        "--failed",
        action="store_true",
        help="the events set aside by a failing rule, newest first, with the error (reads the database)",
    )
    parser.add_argument("-n", "--lines", type=int, default=50, help="with --failed: how many (default: 50)")
    parser.set_defaults(handler=list_rules)


def describe(rule: Rule) -> list[str]:
    lines = [f"{rule.name}: on {', '.join(k.value for k in rule.on)}"]
    if rule.devices:
        lines.append(f"  devices {', '.join(rule.devices)}")
    if rule.locations:
        lines.append(f"  at {', '.join(rule.locations)}")
    if rule.unless:
        u = rule.unless
        lines.append(f"  unless {u.kind.value} at the same {u.same} within {u.within_seconds:g} s before")
    if rule.count:
        c = rule.count
        lines.append(f"  when at least {c.at_least} at the same {c.same} within {c.within_seconds:g} s")
    if rule.during_open_incident:
        lines.append("  only while the location has an open incident")
    once = f"once per device per {rule.cooldown_seconds:g} s"
    lines.append(f"  {once}; ignores events older than {rule.max_age_seconds:g} s")
    for action in rule.actions:
        options = action.model_dump(exclude={"type"}, exclude_defaults=False)
        shown = ", ".join(f"{k}={v}" for k, v in options.items() if v not in (None, [], ""))
        lines.append(f"  -> {action.type}" + (f" ({shown})" if shown else ""))
    return lines


def list_rules(args: argparse.Namespace) -> int:
    from vmsbridge.runtime import load_rules

    if args.failed:
        return with_stores(args, partial(_list_failed, args))
    site = load_site(args)
    rules = load_rules(site)
    if args.json:
        data: list[dict[str, Any]] = [r.model_dump(mode="json") for r in rules]
        print_json(data)
        return 0
    if not rules:
        print("no rules are switched on ([rules] templates = [...] or [[rules.custom]] in the site file)")
    for rule in rules:
        print("\n".join(describe(rule)))
    return 0


async def _list_failed(args: argparse.Namespace, stores: Stores, site: SiteConfig) -> int:
    failures = await stores.rule_actions.failures(args.lines)
    if args.json:
        print_json([{**asdict(f), "failed_at": f.failed_at.isoformat()} for f in failures])
        return 0
    if not failures:
        print("no events set aside: every rule handled every event it was given")
    for f in failures:
        print(
            f"{local_time(f.failed_at, site)}  {f.rule}  event {f.event_id}  "
            f"after {f.attempts} attempts: {f.error}: {f.message}"
        )
    return 0
