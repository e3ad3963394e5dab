"""A small campus for rule tests, and a bridge running on it against both emulators over loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connectors.lab import EmulatedSite, emulated_site
from tests.conftest import ROOT
from tests.connectors.conftest import WAIT, eventually
from vmsbridge.app import Services, running_services
from vmsbridge.cli.run import supervise
from vmsbridge.config import SiteConfig, parse_site_config
from vmsbridge.controls import Controls
from vmsbridge.model import Incident
from vmsbridge.model.rules import ActionOutcome
from vmsbridge.plugins import build_connectors
from vmsbridge.rules.engine import RuleEngine
from vmsbridge.rules.runtime import running_rules

CLIP = ROOT / "fixtures" / "video" / "scene.mp4"
PTZ_VMS_ID = "0d3c1f2e-7b5a-4c0e-9a51-6e2f3b8d1a00"

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


@dataclass
class Bridge:
    lab: EmulatedSite
    services: Services
    engine: RuleEngine
    controls: Controls
    started: datetime

    async def incident_at(self, location: str) -> Incident:
        async def find() -> Incident:
            while True:
                for incident in await self.services.stores.incidents.search():
                    if incident.location_id == location:
                        return incident
                await asyncio.sleep(0.05)

        return await asyncio.wait_for(find(), WAIT)

    async def outcomes(self, incident_id: int, count: int, within: float = WAIT) -> list[ActionOutcome]:
        """The incident's recorded action outcomes, once there are at least ``count``."""
        store = self.services.stores.rule_actions
        found: list[ActionOutcome] = []

        async def enough() -> None:
            nonlocal found
            while len(found := await store.for_incident(incident_id)) < count:  # noqa: ASYNC110 - polls the store
                await asyncio.sleep(0.05)

        await asyncio.wait_for(enough(), within)
        return found

    async def connected(self) -> None:
        """Every ONVIF device has a live PullPoint subscription (events would otherwise wait)."""
        await eventually(lambda: all(d.live_subscriptions >= 1 for d in self.lab.onvif.devices))
        for source in self.lab.xprotect.values():
            await eventually(lambda s=source: s.counters["startSession"] >= 1)  # type: ignore[misc]


@asynccontextmanager
async def running_bridge(
    site: SiteConfig,
    db_url: str,
    tmp_path: Path,
    *,
    clock: Callable[[], datetime] | None = None,
) -> AsyncIterator[Bridge]:
    """Emulators + the bridge's services, connectors and rules; everything stopped on exit."""
    secrets = tmp_path / "secrets"
    secrets.mkdir(exist_ok=True)
    async with AsyncExitStack() as stack:
        lab = await stack.enter_async_context(emulated_site(site, CLIP, secrets))
        services = await stack.enter_async_context(running_services(lab.site, db_url))
        connectors = build_connectors(lab.site, services.directory, tmp_path / "work")
        sources, controls = connectors.sources, connectors.controls
        stack.push_async_callback(controls.close)
        engine = await stack.enter_async_context(
            running_rules(services, controls, tmp_path / "work", workers=1, clock=clock, drain_seconds=0)
        )
        tasks = [asyncio.create_task(supervise(s, services.bus)) for s in sources]

        async def stop_sources() -> None:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        stack.push_async_callback(stop_sources)
        bridge = Bridge(lab, services, engine, controls, datetime.now(UTC))
        await bridge.connected()
        yield bridge


def ahead(seconds: float) -> Callable[[], datetime]:
    """A clock for clip capture that is ``seconds`` ahead, so post-event footage need not be waited for."""
    return lambda: datetime.now(UTC) + timedelta(seconds=seconds)
