"""``vmsbridge demo``: the whole spine on the embedded default, with nothing to configure."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vmsbridge.cli.common import add_config_option, load_site, local_time, print_json
from vmsbridge.cli.incidents import event_dict, incident_dict, incident_line
from vmsbridge.errors import VmsBridgeError

if TYPE_CHECKING:
    from recording.segments import SegmentStore
    from vmsbridge.config import SiteConfig
    from vmsbridge.runtime import BridgeOptions

# The synthetic campus scene (fixtures/video/generate.py), shipped in the package: what every emulated
# camera "recorded".
DEMO_CLIP = Path(str(resources.files("vmsbridge").joinpath("data/demo/scene.mp4")))
CLIP_AFTER_SECONDS = 60.0  # the template's window after the call: the footage exists only once it has passed
PRE_ROLL_SECONDS = 30.0  # the template's window before the call: the bridge's buffer must hold it first
DOOR_AFTER_SECONDS = 20.0  # when the door next door is forced, after the call
WAIT_SECONDS = 60.0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "demo",
        help="run the whole bridge on the example campus against emulated cameras and VMS",
        description="Starts emulated ONVIF devices and an emulated XProtect API Gateway for the example "
        "campus on 127.0.0.1, and runs the real bridge against them (connectors, durable ingest, "
        "correlation, the blue_light_callup rule, evidence) on a fresh SQLite database. First a scripted "
        "history (a forced residence-hall door, motion, a camera that stops answering, a replayed event, "
        "an event from an unknown device), then a live call: the blue-light input goes active over "
        "ONVIF, the PTZ camera goes to the phone's preset, an XProtect alarm is raised, the clip is "
        "captured from t-30 s to t+60 s, hashed, analyzed and redacted, and a door forced next door "
        "20 s after the call joins the incident. The emulated cameras stream RTSP and the bridge records "
        "them from the start (a rolling pre-roll buffer), so the call comes once 30 s are buffered and the "
        "clip is cut from that buffer once the minute after the call has passed. Takes about two minutes "
        "(--clip-after 5: about a minute, the door still 20 s after the call); nothing to configure.",
    )
    parser.add_argument(
        "--clip-after",
        type=float,
        default=CLIP_AFTER_SECONDS,
        metavar="SECONDS",
        help="how much footage after the call the clip takes, i.e. how long the demo waits for it "
        "(default: %(default).0f, the blue_light_callup template's own)",
    )
    add_config_option(parser)
    parser.add_argument(
        "--db",
        default=None,
        metavar="URL",
        help="keep the results in this database (default: a temporary SQLite file)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the summary")
    # The demo reports its own rejections; the ingest warning would only repeat them.
    parser.add_argument("--log-level", default="ERROR", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.set_defaults(handler=demo)


async def _countdown(since: float, seconds: float, say: Callable[[str], None], what: str) -> None:
    """Sleep until ``seconds`` after ``since`` (loop time), saying every 10 s how long is left."""
    loop = asyncio.get_running_loop()
    while (left := since + seconds - loop.time()) > 0:
        if left >= 1:
            say(f"{what} in {left:.0f} s")
        await asyncio.sleep(min(left, 10.0))


async def _buffered(store: SegmentStore, seconds: float, say: Callable[[str], None]) -> None:
    """Wait until the camera's buffer reaches ``seconds`` back, saying every 10 s how long is left."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds + WAIT_SECONDS
    told = 0.0
    while True:
        segments = await asyncio.to_thread(store.segments)
        held = (datetime.now(UTC) - segments[0].start).total_seconds() if segments else 0.0
        if held >= seconds:
            return
        if loop.time() > deadline:
            raise VmsBridgeError(
                f"demo: gave up waiting for {seconds:.0f} s of pre-roll in {store.directory} "
                f"(it holds {held:.0f} s); is the camera's RTSP stream reachable?"
            )
        if loop.time() - told >= 10:
            say(f"pre-roll buffered: {held:.0f} of {seconds:.0f} s")
            told = loop.time()
        await asyncio.sleep(0.5)


async def _until(check: Callable[[], bool], what: str, within: float = WAIT_SECONDS) -> None:
    """Wait for emulator or engine state that has no event to await; bounded, with a clear error."""
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise VmsBridgeError(f"demo: gave up after {within:.0f} s waiting for {what}")
        await asyncio.sleep(0.02)


def demo_site(site: SiteConfig, data_dir: Path, clip_after: float) -> SiteConfig:
    """The site with the blue-light call-up rule on, its clip window, and its files in ``data_dir``."""
    from vmsbridge.config.rules import RulesConfig, TemplateOptions

    return site.model_copy(
        update={
            "rules": RulesConfig(
                templates=["blue_light_callup"], clip=TemplateOptions(post_seconds=clip_after)
            ),
            "storage": site.storage.model_copy(update={"data_dir": data_dir}),
            "evidence": site.evidence.model_copy(update={"store_dir": data_dir / "evidence"}),
        }
    )


def bridge_options(db_url: str, data_dir: Path) -> BridgeOptions:
    """The demo's bridge: its own database, and its clips worked on under ``data_dir``."""
    from vmsbridge.runtime import BridgeOptions

    return BridgeOptions(db_url=db_url, work_dir=data_dir / "work")


async def run_demo(
    site: SiteConfig,
    db_url: str,
    data_dir: Path,
    now: datetime | None = None,
    say: Callable[[str], None] = lambda _: None,
    clip_after: float = CLIP_AFTER_SECONDS,
) -> dict[str, Any]:
    """The scripted history, then a live blue-light call on the emulated devices, end to end."""
    from sqlalchemy.engine import make_url

    from vmsbridge.config import SiteDirectory
    from vmsbridge.plugins import emulated_site
    from vmsbridge.prerolls import PrerollRecorders
    from vmsbridge.runtime import build_bridge
    from vmsbridge.scenario import ScenarioSource

    now = now or datetime.now(UTC)
    site = demo_site(site, data_dir, clip_after)
    directory = SiteDirectory(site)
    phone = next((p for p in site.phones if p.camera and p.preset), None)
    wired = (
        next(((m, i) for m in site.io_modules for i in m.inputs if phone and i.device == phone.id), None)
        if phone
        else None
    )
    if phone is None or wired is None:
        raise VmsBridgeError(
            "demo: the site needs a phone with a PTZ camera and preset, wired to an I/O input"
        )
    module, wire = wired
    neighbours = directory.adjacent.get(phone.location, frozenset())
    # The story is told on the emulated ONVIF devices: they are the ones the demo can make act.
    onvif_ids = {c.id for c in site.connectors.configured().get("onvif", ())}
    door = next((d for d in site.doors if d.location in neighbours and d.connector in onvif_ids), None)
    secrets = data_dir / "lab"
    await asyncio.to_thread(secrets.mkdir, parents=True, exist_ok=True)
    say("starting emulated devices (ONVIF) and VMS (XProtect API Gateway) on 127.0.0.1 ...")
    async with (
        emulated_site(site, DEMO_CLIP, secrets) as lab,
        build_bridge(lab.site, bridge_options(db_url, data_dir)) as bridge,
    ):
        engine = bridge.engine
        await _until(
            lambda: all(d.live_subscriptions >= 1 for d in lab.onvif.devices),
            "the ONVIF event subscriptions",
        )
        sessions = [g.counters for g in lab.xprotect.values()]
        await _until(lambda: all(c["startSession"] >= 1 for c in sessions), "the XProtect event session")
        say("connected; replaying the earlier part of the shift (scripted events) ...")
        history = ScenarioSource(bridge.directory, now, run_tag=f"demo-{now:%Y%m%dT%H%M%S}", with_phone=False)
        await history.run(bridge.bus)
        await _until(
            lambda: engine.seen >= len([o for o in history.outcomes if o.status == "stored"]),
            "the rules to see the history",
        )

        camera = next(c for c in site.cameras if c.id == phone.camera)
        recorders = next((s for s in bridge.sources if isinstance(s, PrerollRecorders)), None)
        buffer = recorders.stores.get(camera.id) if recorders is not None else None
        if buffer is not None:
            say(
                f"{camera.id}: recorded live over RTSP (the address its GetStreamUri gave); the call comes "
                f"once the buffer holds {PRE_ROLL_SECONDS:.0f} s of pre-roll ..."
            )
            await _buffered(buffer, PRE_ROLL_SECONDS, say)
        say(f"{phone.name}: handset lifted (input {wire.token} on {module.connector} goes active)")
        fired_before = engine.fire_count
        lab.device(module.connector).set_input(wire.token, True)
        await _until(lambda: engine.fire_count > fired_before, "the call-up rule to fire")
        if camera.source.connector in onvif_ids:
            ptz = lab.device(camera.source.connector)
            await _until(lambda: bool(ptz.goto_calls), "the PTZ GotoPreset")
            say(f"{camera.name}: GotoPreset {ptz.goto_calls[-1][1]} received")
        called = asyncio.get_running_loop().time()
        say(
            f"capturing {camera.id} from t-{PRE_ROLL_SECONDS:.0f} s to t+{clip_after:.0f} s: waiting for "
            "that footage to exist, then hashing, motion analytics and a redacted copy ..."
        )
        if door is not None:
            await _countdown(called, DOOR_AFTER_SECONDS, say, "the door next door")
            say(f"{door.name} (next door, {door.location}): door forced open")
            lab.device(door.connector).door_alarm(door.token, "DoorForcedOpen")
        await _countdown(called, clip_after, say, "the clip's last footage")
        if not await engine.drain(WAIT_SECONDS * 2):
            say("some rule actions did not finish in time; they are recorded as cancelled")
        lab.device(module.connector).set_input(wire.token, False)  # the caller hangs up
        stores = bridge.stores
        stored = await stores.events.count()
        await _until(lambda: engine.seen >= stored, "the last events")
        await bridge.correlator.catch_up()
        await bridge.correlator.close_quiet()
        incidents = await stores.incidents.search()
        stored_total = await stores.events.count()
        documents = []
        for incident in incidents:
            document = incident_dict(incident)
            document["events"] = [event_dict(e) for e in await stores.incidents.events_of(incident.id)]
            document["actions"] = [
                {"type": o.action, "ok": o.ok, "ms": o.ms, "detail": o.detail, "rule": o.rule}
                for o in await stores.rule_actions.for_incident(incident.id)
            ]
            document["evidence"] = [
                {"sha256": item.sha256, "kind": item.role, "camera": item.camera_id, "file": item.file_name}
                for item in await stores.evidence.items(incident.id)
            ]
            document["custody"] = [
                {
                    "seq": e.seq,
                    "at": e.at,
                    "actor": e.actor,
                    "action": e.action,
                    "item": e.item,
                    "hash": e.hash,
                }
                for e in await stores.evidence.chain(incident.id)
            ]
            documents.append(document)
        alarms = [a for g in lab.xprotect.values() for a in g.alarms]
        replayed = camera.source.connector in onvif_ids and bool(
            lab.device(camera.source.connector).rtsp.replay_requests
        )
        clip_from = "replay" if replayed else "buffer" if buffer is not None else "connector"
    outcomes = Counter(o.status for o in history.outcomes)
    return {
        "site": site.site.name,
        "database": make_url(db_url).render_as_string(hide_password=True),
        "published": len(history.outcomes),
        "events": outcomes["stored"],
        "events_in_store": stored_total,
        "duplicates": outcomes["duplicate"],
        "rejected": outcomes["rejected"],
        "rejections": [o.reason for o in history.outcomes if o.status == "rejected"],
        "vms_alarms": [
            {"id": a["id"], "name": a["name"], "source": (a.get("source") or {}).get("id")} for a in alarms
        ],
        "clip_from": clip_from,
        "incidents": documents,
        "_incident_objects": incidents,
    }


CLIP_STORIES = {
    "buffer": "cut from the bridge's pre-roll buffer of the camera's live RTSP stream "
    "(30 s before the call were already on disk when it came)",
    "replay": "replayed from the camera's own recording (ONVIF Profile G over RTSP): "
    "the window began before the bridge's buffer",
    "connector": "from the camera's connector (the VMS's recording)",
}


def demo(args: argparse.Namespace) -> int:
    from vmsbridge.store.database import default_data_dir, resolve_db_url

    site = load_site(args)

    def say(text: str) -> None:
        print(f"  .. {text}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="vmsbridge-demo-") as tmp:
        url = resolve_db_url(args.db) if args.db else f"sqlite+aiosqlite:///{tmp}/demo.db"
        # Kept results need their evidence files too: beside the site's data, else thrown away.
        data_dir = (site.storage.data_dir or default_data_dir()) / "demo" if args.db else Path(tmp)
        result = asyncio.run(run_demo(site, url, data_dir, say=say, clip_after=args.clip_after))
    incidents = result.pop("_incident_objects")
    if args.json:
        print_json(result)
        return 0
    documents = {d["id"]: d for d in result["incidents"]}
    where = "a temporary SQLite database" if args.db is None else result["database"]
    print(f"\nvmsbridge demo: {site.site.name} ({site.site.timezone}), {where}\n")
    print(
        f"The scripted history published {result['published']} events:\n"
        f"  {result['events']} stored (each persisted before it was acknowledged)\n"
        f"  {result['duplicates']} replay recognised by (source, native_id) and not stored twice\n"
        f"  {result['rejected']} rejected and kept for inspection:"
    )
    for reason in result["rejections"]:
        print(f"    - {reason}")
    print(
        "Then a live call on the emulated devices: the blue-light input over ONVIF, the rule's PTZ move, "
        "an XProtect alarm, the clip, and a forced door next door."
    )
    print(f"  The clip: {CLIP_STORIES[result['clip_from']]}")
    for alarm in result["vms_alarms"]:
        print(f"  XProtect alarm raised: {alarm['name']} (camera {alarm['source']})")
    print(f"\n{len(incidents)} incidents:\n")
    for incident in incidents:
        print(incident_line(incident, site))
        document = documents[incident.id]
        for action in document["actions"]:
            mark = "ok  " if action["ok"] else "FAIL"
            print(f"       {mark} {action['type']:<15} {action['ms']:>6} ms  {action['detail']}")
        for item in document["evidence"]:
            print(f"       evidence {item['kind']:<8} sha256 {item['sha256'][:16]}...  {item['file']}")
        if document["custody"]:
            last = document["custody"][-1]
            print(
                f"       custody  {len(document['custody'])} hash-chained entries, last {last['action']} "
                f"by {last['actor']} ({last['hash'][:16]}...)"
            )
        print()
    print(f"(times in {site.site.timezone}; now is {local_time(datetime.now(UTC), site)})")
    if args.db and incidents:
        first = max(incidents, key=lambda i: i.priority.rank)
        print(f"\nLook closer: vmsbridge incidents show {first.id} --db {result['database']}")
    return 0
