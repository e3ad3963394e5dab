"""``vmsbridge events tail|import|rejected``"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from collections import Counter
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from vmsbridge.cli.common import add_common_options, db_url_for, load_site, local_time
from vmsbridge.cli.incidents import event_dict
from vmsbridge.log_output import escape_controls

if TYPE_CHECKING:
    from vmsbridge.config import SiteConfig
    from vmsbridge.model import IngestOutcome, StoredEvent

log = logging.getLogger(__name__)

FOLLOW_POLL_SECONDS = 1.0
KEY = ("source", "native_id")  # what identifies an event, as an acknowledgement names it


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("events", help="look at stored events, or import them from a file")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    tail = actions.add_parser("tail", help="the most recent events (and, with --follow, new ones)")
    add_common_options(tail)
    tail.add_argument("-n", "--lines", type=int, default=20, help="how many (default: %(default)s)")
    tail.add_argument("--follow", "-f", action="store_true", help="keep printing new events until Ctrl-C")
    tail.add_argument("--json", action="store_true", help="one JSON object per line")
    tail.set_defaults(handler=tail_events)

    imp = actions.add_parser(
        "import",
        help="ingest events from a JSON-lines file (backfill, replay, exports)",
        description="Publish one event per line through the normal ingest path: each is validated, "
        "stored exactly once per (source, native_id), correlated, and bad lines are kept as "
        "rejected input. Re-running the same file is harmless. Exit 1 if any line was rejected "
        "(the good lines are stored all the same), as `clery import` does.",
    )
    add_common_options(imp)
    imp.add_argument("file", metavar="FILE", help="JSON lines, or - for standard input")
    imp.add_argument(
        "--acks",
        action="store_true",
        help="print '<stored|duplicate|rejected> <source> <native_id>' for each line once it is durable "
        "(the ids as stored, control characters escaped)",
    )
    imp.set_defaults(handler=import_events)

    rej = actions.add_parser("rejected", help="input the ingest stage refused, with the reason")
    add_common_options(rej)
    rej.add_argument("-n", "--lines", type=int, default=20)
    rej.set_defaults(handler=show_rejected)


def event_line(event: StoredEvent, site: SiteConfig) -> str:
    return (
        f"{event.id:>7}  {local_time(event.occurred_at, site)}  {event.kind.value:<24} "
        f"{event.device_id} @ {event.location_id}  ({event.source})"
    )


def tail_events(args: argparse.Namespace) -> int:
    import asyncio

    from vmsbridge.store.stores import open_store

    site = load_site(args)

    def show(events: list[StoredEvent]) -> None:
        for event in events:
            print(json.dumps(event_dict(event)) if args.json else event_line(event, site), flush=True)

    async def go() -> None:
        async with open_store(db_url_for(args, site)) as stores:
            events = await stores.events.recent(args.lines)
            show(events)
            last = events[-1].id if events else 0
            while args.follow:
                await asyncio.sleep(FOLLOW_POLL_SECONDS)
                newer = await stores.events.recent(1000, after_id=last)
                show(newer)
                last = newer[-1].id if newer else last

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(go())
    return 0


def import_events(args: argparse.Namespace) -> int:
    import asyncio

    from vmsbridge.event_import import import_lines
    from vmsbridge.runtime import running_import

    site = load_site(args)
    counts: Counter[str] = Counter()
    unprinted: list[int] = []  # lines whose acknowledgement could not be printed
    show_progress = sys.stderr.isatty()

    def report(number: int, outcome: IngestOutcome | None, payload: Any) -> None:
        if outcome is None:
            counts["not stored"] += 1
            return
        counts[outcome.status] += 1
        if outcome.status == "rejected":
            print(f"line {number}: {escape_controls(str(outcome.reason))}", file=sys.stderr, flush=True)
        if args.acks:
            try:
                print(f"{outcome.status} {_stored_key(payload)}", flush=True)
            except (OSError, ValueError) as exc:  # the ack is lost: the import must not say it went well
                unprinted.append(number)
                log.error("line %d: its acknowledgement could not be printed: %s", number, exc)
        if show_progress and sum(counts.values()) % 1000 == 0:
            print(f"\r{sum(counts.values())} events durable", end="", file=sys.stderr, flush=True)

    async def go(stream: IO[bytes]) -> None:
        async with running_import(site, db_url_for(args, site)) as services:
            await import_lines(services.bus, services.stores.events, stream, report)

    if args.file == "-":
        asyncio.run(go(sys.stdin.buffer))
    else:
        with Path(args.file).open("rb") as stream:
            asyncio.run(go(stream))
    if show_progress:
        print(file=sys.stderr)
    summary = (
        f"{counts['stored']} stored, {counts['duplicate']} already stored, {counts['rejected']} rejected"
    )
    if counts["not stored"]:
        print(
            f"imported: {summary}; {counts['not stored']} NOT STORED (see the log): run again",
            file=sys.stderr,
        )
        return 1
    if unprinted:
        print(
            f"imported: {summary}; {len(unprinted)} acknowledgement(s) NOT PRINTED: run again",
            file=sys.stderr,
        )
        return 1
    print(f"imported: {summary}", file=sys.stderr)
    # A script running the import must notice a refused line, as with `clery import`; the good
    # lines are stored regardless, and the refused ones kept (`events rejected`).
    return 1 if counts["rejected"] else 0


def _stored_key(payload: Any) -> str:
    """``<source> <native_id>`` as the store keeps them (the event model escapes NUL and lone
    surrogates and strips whitespace), control characters escaped, so each acknowledgement is one
    line that a terminal shows as it is. A payload that is no event shows its own values."""
    from pydantic import ValidationError

    from vmsbridge.model import Event
    from vmsbridge.model.storable import escape_text

    try:
        event = Event.model_validate(payload)
    except ValidationError:
        get = payload.get if isinstance(payload, dict) else lambda _key: None
        source, native = (escape_text(v) if isinstance(v, str) else str(v) for v in map(get, KEY))
    else:
        source, native = event.source, event.native_id
    return f"{escape_controls(source)} {escape_controls(native)}"


def show_rejected(args: argparse.Namespace) -> int:
    import asyncio

    from vmsbridge.store.stores import open_store

    site = load_site(args)

    async def go() -> None:
        async with open_store(db_url_for(args, site)) as stores:
            for item in await stores.events.rejected(args.lines):
                # Device text, and a refused line kept as it came: shown, never obeyed, by the terminal.
                source, reason = escape_controls(item.source or "-"), escape_controls(item.reason)
                print(f"{source}: {reason}\n    {escape_controls(item.payload[:300])}")

    asyncio.run(go())
    return 0
