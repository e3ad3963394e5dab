"""A small campus for rule tests, and a bridge running on it against both emulators over loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connectors.lab import EmulatedSite, emulated_site
from tests.conftest import ROOT
from tests.waiting import WAIT
from vmsbridge.bus import InProcessBus
from vmsbridge.config import SiteConfig, SiteDirectory, parse_site_config
from vmsbridge.model import Incident
from vmsbridge.model.rules import ActionOutcome
from vmsbridge.rules.engine import RuleEngine
from vmsbridge.runtime import Bridge as RuntimeBridge
from vmsbridge.runtime import BridgeOptions, build_bridge
from vmsbridge.store.stores import Stores

CLIP = ROOT / "fixtures" / "video" / "scene.mp4"
PTZ_VMS_ID = "0d3c1f2e-7b5a-4c0e-9a51-6e2f3b8d1a00"
# A clip's outcome comes after capture, hashing, motion analysis and a redacted copy on one worker:
# CPU-bound, about 20 s on a quiet machine for the 90 s window and over two minutes on a busy one.
CLIP_WAIT = 600.0

# Lot B: a blue-light phone (bl-7) wired to an I/O module, a PTZ camera on its own encoder with a
# preset aimed at the phone (and recorded by XProtect too), and a fixed camera. The library next
# door has a staff door on the same controller.
SITE = """
[site]
name = "Rules Test College"
timezone = "America/Chicago"

[[locations]]
id = "lot-b"
name = "Parking Lot B"
clery_geography = "on_campus"
public_label = "Parking Lot B"
lat = 41.8793
lon = -87.6322
adjacent = ["library"]

[[locations]]
id = "library"
name = "Harmon Library"
clery_geography = "on_campus"
public_label = "Harmon Library"
lat = 41.8807
lon = -87.6296

[[connectors.onvif]]
id = "onvif-io"
host = "10.0.0.1"
username = "x"
password_env = "UNUSED"
location = "lot-b"
health_interval_seconds = 3600

[[connectors.onvif]]
id = "onvif-ptz"
host = "10.0.0.2"
username = "x"
password_env = "UNUSED"
location = "lot-b"
health_interval_seconds = 3600

[[connectors.xprotect]]
id = "xprotect-main"
url = "https://vms.example.edu"
username = "x"
password_env = "UNUSED"
location = "library"
alarm_poll_seconds = 3600

[[cameras]]
id = "cam-lotb-ptz"
name = "Lot B PTZ"
location = "lot-b"
source = { connector = "onvif-ptz", profile = "Profile_1" }
ptz = true
presets = { "bl-7" = "3", "overview" = "1" }
vms_camera_id = "0d3c1f2e-7b5a-4c0e-9a51-6e2f3b8d1a00"

[[cameras]]
id = "cam-lotb-fixed"
name = "Lot B fixed"
location = "lot-b"
source = { connector = "onvif-io", profile = "Profile_1" }

[[cameras]]
id = "cam-library-lobby"
name = "Library lobby"
location = "library"
source = { connector = "xprotect-main", camera_id = "0d3c1f2e-7b5a-4c0e-9a51-6e2f3b8d1a03" }

[[phones]]
id = "bl-7"
name = "Blue light 7, Lot B"
location = "lot-b"
camera = "cam-lotb-ptz"
preset = "bl-7"

[[doors]]
id = "door-library-staff"
name = "Library staff entrance"
location = "library"
connector = "onvif-io"
token = "Door_2"

[[io_modules]]
id = "io-north"
name = "North call-box I/O"
location = "lot-b"
connector = "onvif-io"
inputs = [{ token = "DI1", device = "bl-7", active = "phone.offhook", inactive = "phone.onhook" }]
"""


def rules_site(tmp_path: Path, rules: str = 'templates = ["blue_light_callup", "door_forced"]') -> SiteConfig:
    text = SITE + f"\n[storage]\ndata_dir = '{tmp_path / 'data'}'\n\n[rules]\n{rules}\n"
    return parse_site_config(text, "rules-test-site")


async def eventually(check: Callable[[], bool], what: str, within: float = WAIT) -> None:
    """Await a condition on state nothing announces (emulator counters); fails naming ``what``."""

    async def poll() -> None:
        while not check():  # noqa: ASYNC110 - the emulators' counters have no event to await
            await asyncio.sleep(0.02)

    try:
        await asyncio.wait_for(poll(), within)
    except TimeoutError:
        raise AssertionError(f"gave up after {within:.0f} s waiting for {what}") from None


async def until(check: Callable[[], Awaitable[bool]], what: str, within: float = WAIT) -> None:
    """Await a condition read from the store; fails naming ``what``."""

    async def poll() -> None:
        while not await check():  # noqa: ASYNC110 - polls the store
            await asyncio.sleep(0.05)

    try:
        await asyncio.wait_for(poll(), within)
    except TimeoutError:
        raise AssertionError(f"gave up after {within:.0f} s waiting for {what}") from None


@dataclass
class Bridge:
    """The running bridge with the emulated devices it talks to."""

    lab: EmulatedSite
    runtime: RuntimeBridge
    started: datetime

    @property
    def stores(self) -> Stores:
        return self.runtime.stores

    @property
    def bus(self) -> InProcessBus:
        return self.runtime.bus

    @property
    def directory(self) -> SiteDirectory:
        return self.runtime.directory

    @property
    def engine(self) -> RuleEngine:
        return self.runtime.engine

    async def incident_at(self, location: str) -> Incident:
        found: list[Incident] = []

        async def opened() -> bool:
            found[:] = [i for i in await self.stores.incidents.search() if i.location_id == location]
            return bool(found)

        await until(opened, f"an incident at {location}")
        return found[0]

    async def outcomes(self, incident_id: int, count: int, within: float = WAIT) -> list[ActionOutcome]:
        """The incident's recorded action outcomes, once there are at least ``count``."""
        found: list[ActionOutcome] = []

        async def enough() -> bool:
            found[:] = await self.stores.rule_actions.for_incident(incident_id)
            return len(found) >= count

        await until(enough, f"{count} action outcomes on incident {incident_id}", within)
        return found

    async def outcomes_of(
        self, incident_id: int, *actions: str, within: float = WAIT
    ) -> dict[str, ActionOutcome]:
        """The incident's outcomes by action, once each of ``actions`` has one: await the very
        outcomes a test asserts on (others may be recorded first, in any order)."""
        found: dict[str, ActionOutcome] = {}

        async def recorded() -> bool:
            found.clear()
            found.update((o.action, o) for o in await self.stores.rule_actions.for_incident(incident_id))
            return all(action in found for action in actions)

        await until(recorded, f"the {', '.join(actions)} outcome(s) on incident {incident_id}", within)
        return found

    async def connected(self) -> None:
        """Every ONVIF device has a live PullPoint subscription (events would otherwise wait)."""
        await eventually(
            lambda: all(d.live_subscriptions >= 1 for d in self.lab.onvif.devices),
            "every ONVIF device's PullPoint subscription",
        )
        for name, gateway in self.lab.xprotect.items():
            await eventually(
                lambda g=gateway: g.counters["startSession"] >= 1,  # type: ignore[misc]
                f"the {name} event session",
            )


def rules_bridge_options(
    db_url: str, tmp_path: Path, clock: Callable[[], datetime] | None = None
) -> BridgeOptions:
    """One clip worker, clip capture's clock as given, and no waiting for actions on stop."""
    return BridgeOptions(
        db_url=db_url, work_dir=tmp_path / "work", clip_workers=1, rules_drain_seconds=0, clip_clock=clock
    )


@asynccontextmanager
async def running_bridge(
    site: SiteConfig,
    db_url: str,
    tmp_path: Path,
    *,
    clock: Callable[[], datetime] | None = None,
) -> AsyncIterator[Bridge]:
    """Emulators + the whole bridge on them; everything stopped on exit, and no task given up."""
    secrets = tmp_path / "secrets"
    secrets.mkdir(exist_ok=True)
    async with (
        emulated_site(site, CLIP, secrets) as lab,
        build_bridge(lab.site, rules_bridge_options(db_url, tmp_path, clock)) as runtime,
    ):
        bridge = Bridge(lab, runtime, datetime.now(UTC))
        await bridge.connected()
        yield bridge
        assert not runtime.failed.is_set(), f"tasks given up: {runtime.supervisor.given_up}"


def ahead(seconds: float) -> Callable[[], datetime]:
    """A clock for clip capture that is ``seconds`` ahead, so post-event footage need not be waited for."""
    return lambda: datetime.now(UTC) + timedelta(seconds=seconds)
