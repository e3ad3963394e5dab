"""Blue-light call-up latency: phone event into the connector -> GotoPreset out of the bridge.

    python bench/callup.py                       # 100 calls idle, 100 calls under 500 events/s
    python bench/callup.py --calls 5 --rate 50   # tiny, for the smoke test
    python bench/callup.py --record              # the same with every camera recorded live meanwhile

The whole bridge runs against the emulated example campus on loopback (ONVIF and XProtect
emulators in this process, SQLite in a temporary directory): the phone's I/O input goes active
on the emulated I/O module, the connector pulls it over SOAP, ingest stores it, the rule engine
sends GotoPreset to the emulated PTZ camera. Each call also captures a short clip, analyzed and
redacted in the process pool, so clip work runs while later calls are measured. With --record the
bridge also records every emulated camera's live RTSP (GetStreamUri) into its pre-roll buffer during
the calls, as a site does, and the clips come from that buffer; without it no camera is recorded
(``record = "never"``) and the clips come by ONVIF replay.

Figures printed (nothing is asserted), each p50/p99/max over the calls:
  input->goto      the emulator setting the input -> GotoPreset arriving at the emulated camera on
                   loopback: the whole call-up, split into the next two
  device delivery  the emulator setting the input -> the connector receiving the event
                   (Event.received_at, stamped when the PullMessages reply is parsed): PullPoint delivery
  bridge           the connector receiving the event -> GotoPreset arriving at the camera (the
                   request has left the bridge)
  bridge's own     the same span as the bridge records it on the incident (event received ->
                   GotoPreset handed to the SOAP client), for comparison
  background       other events (motion on other cameras) offered and stored meanwhile
  clips            capture_clip outcomes: captured (analyzed and redacted) / failed
  recorded         with --record: the cameras recorded and the segments they wrote
The emulators share this process's event loop with the bridge, so their work is inside the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from connectors.lab import emulated_site
from recording.segments import SegmentStore
from vmsbridge.config import SiteConfig, default_config_path, load_site_config
from vmsbridge.config.rules import Rule, RulesConfig
from vmsbridge.model import EventKind
from vmsbridge.prerolls import PrerollRecorders
from vmsbridge.runtime import BridgeOptions, build_bridge
from vmsbridge.store.stores import Stores

ROOT = Path(__file__).resolve().parent.parent

CLIP = ROOT / "fixtures" / "video" / "scene.mp4"
LEAD = re.compile(r"sent ([\d.]+) ms after the event arrived")
WAIT = 30.0


def bench_site(data_dir: Path, record: bool) -> SiteConfig:
    site = load_site_config(default_config_path())
    if not record:
        site = site.model_copy(
            update={"cameras": [c.model_copy(update={"record": "never"}) for c in site.cameras]}
        )
    rule = Rule.model_validate(
        {
            "name": "callup-bench",
            "on": ["phone.offhook"],
            "cooldown_seconds": 0,  # every call counts here; a site keeps the default
            "actions": [
                {"type": "ptz_goto", "camera": "phone"},
                {"type": "capture_clip", "cameras": "nearest", "pre_seconds": 2, "post_seconds": 0},
                {"type": "open_incident", "priority": "high"},
            ],
        }
    )
    return site.model_copy(
        update={
            "rules": RulesConfig(custom=[rule]),
            "storage": site.storage.model_copy(update={"data_dir": data_dir}),
            "evidence": site.evidence.model_copy(update={"store_dir": data_dir / "evidence"}),
        }
    )


async def until(check: object, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: gave up waiting for {what}")
        await asyncio.sleep(0.001)


async def lead_times(stores: Stores, since: datetime) -> list[float]:
    """The bridge's own figure for each PTZ move: event received -> GotoPreset sent, in ms."""
    leads = []
    for incident in await stores.incidents.search(limit=100_000):
        for outcome in await stores.rule_actions.for_incident(incident.id):
            found = LEAD.search(outcome.detail)
            if outcome.action == "ptz_goto" and outcome.ok and outcome.started_at >= since and found:
                leads.append(float(found.group(1)))
    return leads


async def split_times(
    stores: Stores, inputs_set: list[datetime], arrivals: list[datetime], since: datetime
) -> tuple[list[float], list[float]]:
    """Each call's device delivery (input set -> its pickup's received_at) and bridge span
    (received_at -> its GotoPreset arriving), in ms. Calls are made one at a time with cooldown 0:
    one pickup and one move per call, in order."""
    pickups = sorted(
        e.received_at
        for e in await stores.events.recent(limit=1_000_000)
        if e.kind is EventKind.PHONE_OFFHOOK and e.received_at >= since
    )
    moves = [t for t in arrivals if t >= since]
    if not len(inputs_set) == len(pickups) == len(moves):  # pairing by order would mix calls up
        print(
            f"bench: {len(inputs_set)} calls, {len(pickups)} pickups, {len(moves)} moves; split not measured"
        )
        return [], []
    delivery = [
        (picked - set_at).total_seconds() * 1000 for set_at, picked in zip(inputs_set, pickups, strict=True)
    ]
    bridge = [(moved - picked).total_seconds() * 1000 for picked, moved in zip(pickups, moves, strict=True)]
    return delivery, bridge


async def clip_outcomes(stores: Stores) -> tuple[int, int]:
    ok = failed = 0
    for incident in await stores.incidents.search(limit=100_000):
        for outcome in await stores.rule_actions.for_incident(incident.id):
            if outcome.action == "capture_clip":
                ok, failed = ok + outcome.ok, failed + (not outcome.ok)
    return ok, failed


def percentiles(values: list[float]) -> str:
    if not values:
        return "no samples"
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered):6.1f} ms  p99 {p99:6.1f} ms  max {ordered[-1]:6.1f} ms"


def recorded_segments(data_dir: Path) -> dict[str, int]:
    """Per recorded camera, how many complete segments its buffer holds."""
    buffers = data_dir / "prerolls"
    if not buffers.is_dir():
        return {}
    return {d.name: len(SegmentStore(d).segments()) for d in sorted(buffers.iterdir()) if d.is_dir()}


async def run(calls: int, rate: float, tmp: Path, record: bool) -> None:
    site = bench_site(tmp / "data", record)
    secrets = tmp / "secrets"
    secrets.mkdir()
    phone = next(p for p in site.phones if p.camera and p.preset)
    module, wire = next((m, i) for m in site.io_modules for i in m.inputs if i.device == phone.id)
    camera = next(c for c in site.cameras if c.id == phone.camera)
    options = BridgeOptions(db_url=f"sqlite+aiosqlite:///{tmp / 'bench.db'}", work_dir=tmp / "work")
    async with emulated_site(site, CLIP, secrets) as lab, build_bridge(lab.site, options) as bridge:
        engine = bridge.engine
        await until(lambda: all(d.live_subscriptions >= 1 for d in lab.onvif.devices), "subscriptions")
        io, ptz = lab.device(module.connector), lab.device(camera.source.connector)
        if record:
            recorded = [s for s in bridge.sources if isinstance(s, PrerollRecorders)]
            stores = [store for r in recorded for store in r.stores.values()]
            assert stores, "--record: the bridge records no camera"
            # Measure with every recorder running: each has finished a segment (so pre-roll exists).
            deadline = time.monotonic() + 60
            while not all(await asyncio.to_thread(lambda: [len(s.segments()) >= 1 for s in stores])):
                if time.monotonic() > deadline:
                    raise SystemExit("bench: gave up after 60 s waiting for a segment from every recorder")
                await asyncio.sleep(0.25)
        # Background: motion on the other encoder's cameras, paced.
        others = [d for d in lab.onvif.devices if d is not io and d is not ptz] or [io]
        sources_of = [(d, p.video_source) for d in others for p in d.spec.profiles]
        for label, offered in (("idle", 0.0), (f"{rate:g}/s", rate)):
            stop = asyncio.Event()
            fired = 0

            async def background(offered: float = offered, stop: asyncio.Event = stop) -> None:
                nonlocal fired
                if offered <= 0:
                    return
                started = time.monotonic()
                while not stop.is_set():
                    due = started + fired / offered
                    delay = due - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    device, video = sources_of[fired % len(sources_of)]
                    device.motion(video, fired % 2 == 0)
                    fired += 1

            stored_before = await bridge.stores.events.count()
            feeder = asyncio.create_task(background())
            await asyncio.sleep(0.5)  # let the background reach its rate before measuring
            input_to_goto: list[float] = []
            inputs_set: list[datetime] = []
            measured_from = datetime.now(UTC)
            for _ in range(calls):
                index = len(ptz.goto_received_at)
                set_at = datetime.now(UTC)
                inputs_set.append(set_at)
                io.set_input(wire.token, True)
                await until(lambda index=index: len(ptz.goto_received_at) > index, "GotoPreset")
                input_to_goto.append((ptz.goto_received_at[index] - set_at).total_seconds() * 1000)
                io.set_input(wire.token, False)
                await asyncio.sleep(0.05)
            stop.set()
            await feeder
            await engine.drain(300)  # the moves' records are written with the stored event
            await bridge.bus.drain(60)
            elapsed_events = await bridge.stores.events.count() - stored_before
            own_figure = await lead_times(bridge.stores, since=measured_from)
            delivery, bridge_part = await split_times(
                bridge.stores, inputs_set, ptz.goto_received_at, measured_from
            )
            print(f"{label:>8}  input->goto      {percentiles(input_to_goto)}   ({calls} calls)")
            print(f"{label:>8}  device delivery  {percentiles(delivery)}")
            print(f"{label:>8}  bridge           {percentiles(bridge_part)}")
            print(f"{label:>8}  bridge's own     {percentiles(own_figure)}")
            print(f"{label:>8}  background       {fired} motion events offered, {elapsed_events} stored")
        print("waiting for the clip work to finish ...", file=sys.stderr)
        await engine.drain(300)
        ok, failed = await clip_outcomes(bridge.stores)
        done = f"{ok} clips captured, analyzed and redacted, {failed} failed"
        print(f"clips    {engine.fire_count} firings: {done}")
        if record:
            segments = await asyncio.to_thread(recorded_segments, tmp / "data")
            print(
                f"recorded {len(segments)} cameras live over RTSP, "
                f"{sum(segments.values())} segments now buffered"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=100, help="phone calls per run (default: %(default)s)")
    parser.add_argument("--rate", type=float, default=500, help="background events/s (default: %(default)s)")
    parser.add_argument(
        "--record", action="store_true", help="record every emulated camera's live RTSP during the calls"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="vmsbridge-callup-") as tmp:
        asyncio.run(run(args.calls, args.rate, Path(tmp), args.record))


if __name__ == "__main__":
    main()
