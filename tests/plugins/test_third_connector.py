"""A third party's connector, installed next to vmsbridge, works without any change to vmsbridge.

The plug-in is written into a temporary folder as a package and a ``*.dist-info`` (what pip would
install) and put on the ``PYTHONPATH`` of a separate ``vmsbridge`` process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.plugins.distributions import write_distribution

WAIT = 60.0  # upper bound on any one command or wait

SITE = """
[site]
name = "Panel Test College"
timezone = "America/Chicago"

[storage]
data_dir = "{data}"

[[locations]]
id = "annex"
name = "Annex"
clery_geography = "on_campus"
public_label = "Annex"

[[connectors.panel]]
id = "panel-1"
url = "http://127.0.0.1:9"
password_env = "PANEL_PASSWORD"
location = "annex"

[[doors]]
id = "annex-door"
name = "Annex side door"
location = "annex"
connector = "{door_connector}"
token = "D1"
"""

PANEL = '''
"""An intrusion panel connector: one event source per [[connectors.panel]], and ``vmsbridge panel ping``."""

from __future__ import annotations

import argparse


class PanelSource:
    def __init__(self, connector_id, door, password):
        self.name = f"panel:{connector_id}"
        self._door = door
        self._password = password

    async def run(self, bus):
        import asyncio
        from datetime import UTC, datetime

        from vmsbridge.bus import publish_durably
        from vmsbridge.model import Event, EventKind

        event = Event(
            source=self.name,
            native_id="forced-1",
            kind=EventKind.DOOR_FORCED,
            device_id=self._door,
            occurred_at=datetime.now(UTC),
        )
        await publish_durably(bus, [event])
        await asyncio.Event().wait()  # a connector runs until the bridge stops


def ping(args):
    print(f"panel at {args.url}: pong")
    return 0


class PanelPlugin:
    kind = "panel"
    summary = "intrusion panels (a third party's connector)"
    capabilities = frozenset({"events"})

    def config_model(self):
        from pydantic import Field

        from vmsbridge.config.connectors import ConnectorConfig

        class PanelConfig(ConnectorConfig):
            url: str = Field(pattern=r"^https?://")

        return PanelConfig

    def check(self, site):
        from vmsbridge.errors import ConfigProblem

        for i, panel in enumerate(site.connectors.configured().get(self.kind, ())):
            if not any(d.connector == panel.id for d in site.doors):
                yield ConfigProblem(f"connectors.panel[{i}]", f"no door is on panel {panel.id!r}")

    def build(self, site, directory, work_dir):
        from vmsbridge.config import resolve_secret
        from vmsbridge.controls import Controls
        from vmsbridge.plugins import ConnectorSet, configured_connectors

        sources = []
        for i, connector in enumerate(configured_connectors(site).get(self.kind, ())):
            door = next(d.id for d in site.doors if d.connector == connector.id)
            password = resolve_secret(f"connectors.panel[{i}]", connector)
            sources.append(PanelSource(connector.id, door, password))
        return ConnectorSet(sources=sources, controls=Controls())

    def add_cli(self, sub):
        parser = sub.add_parser("panel", help="talk to an intrusion panel")
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        ping_parser = actions.add_parser("ping", help="ask a panel whether it is there")
        ping_parser.add_argument("--url", required=True)
        ping_parser.set_defaults(handler=ping)

    def add_emulate_cli(self, kinds):
        return None

    def emulate(self, site, clip, secret_file, user):
        return None


PLUGIN = PanelPlugin()
'''


@pytest.fixture
def site_packages(tmp_path: Path) -> Path:
    return write_distribution(
        tmp_path / "site-packages",
        "panel-connector",
        {"panel": "panel_connector:PLUGIN"},
        {"panel_connector": PANEL},
    )


def environment(site_packages: Path) -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(site_packages), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "PANEL_PASSWORD": "lab"}


def vmsbridge(site_packages: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [sys.executable, "-m", "vmsbridge", *args],
            cwd=ROOT,
            env=environment(site_packages),
            capture_output=True,
            text=True,
            timeout=WAIT,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"gave up after {WAIT:.0f} s waiting for `vmsbridge {' '.join(args)}` to exit")


def test_help_lists_the_third_connectors_command(site_packages: Path) -> None:
    result = vmsbridge(site_packages, "--help")
    assert result.returncode == 0, result.stderr
    assert "panel       talk to an intrusion panel" in result.stdout
    # Without it on the path the command is not there: nothing in vmsbridge names it.
    assert "panel" not in vmsbridge(site_packages.parent, "--help").stdout


def test_the_third_connectors_subcommand_runs(site_packages: Path) -> None:
    result = vmsbridge(site_packages, "panel", "ping", "--url", "http://127.0.0.1:9")
    assert (result.returncode, result.stdout, result.stderr) == (0, "panel at http://127.0.0.1:9: pong\n", "")


def site_file(tmp_path: Path, door_connector: str = "panel-1", extra: str = "") -> Path:
    path = tmp_path / "site.toml"
    path.write_text(
        SITE.format(data=tmp_path / "data", door_connector=door_connector) + extra, encoding="utf-8"
    )
    return path


def test_check_config_reads_the_third_connectors_tables_with_its_model(
    site_packages: Path, tmp_path: Path
) -> None:
    good = vmsbridge(site_packages, "check-config", str(site_file(tmp_path)))
    assert good.returncode == 0, good.stderr
    assert "connectors: 1 panel" in good.stdout

    # Its model: an unknown key and a bad URL, named by key path. Its own check: a panel without doors.
    bad = site_file(
        tmp_path,
        door_connector="panel-2",
        extra='\n[[connectors.panel]]\nid = "panel-2"\n'
        'url = "ftp://panel"\ncolour = "red"\npassword_env = "PANEL_PASSWORD"\n',
    )
    result = vmsbridge(site_packages, "check-config", str(bad))
    assert result.returncode == 2
    assert "connectors.panel[1].url: 'ftp://panel': String should match pattern" in result.stderr
    assert "connectors.panel[1].colour: unknown key" in result.stderr
    fixed = bad.read_text().replace('url = "ftp://panel"\ncolour = "red"\n', 'url = "http://panel"\n')
    bad.write_text(fixed)
    result = vmsbridge(site_packages, "check-config", str(bad))
    assert (result.returncode, result.stderr.splitlines()[1:]) == (
        2,
        ["  connectors.panel[0]: no door is on panel 'panel-1'"],
    )

    # Without the plug-in installed the kind is unknown, and the error says which kinds are.
    result = vmsbridge(tmp_path / "empty", "check-config", str(site_file(tmp_path)))
    assert result.returncode == 2
    assert "connectors.panel: unknown connector kind (installed: onvif, xprotect)" in result.stderr


def test_run_publishes_the_third_connectors_event(site_packages: Path, tmp_path: Path) -> None:
    config = str(site_file(tmp_path))
    db = f"sqlite:///{tmp_path / 'bridge.db'}"
    upgraded = vmsbridge(site_packages, "db", "upgrade", "--config", config, "--db", db)
    assert upgraded.returncode == 0, upgraded.stderr
    bridge = subprocess.Popen(
        [sys.executable, "-m", "vmsbridge", "run", "--config", config, "--db", db, "--for", str(WAIT)],
        cwd=ROOT,
        env=environment(site_packages),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + WAIT
        while True:
            tail = vmsbridge(site_packages, "events", "tail", "--json", "--config", config, "--db", db)
            events = [json.loads(line) for line in tail.stdout.splitlines()]
            forced = [e for e in events if e["source"] == "panel:panel-1" and e["kind"] == "door.forced"]
            if forced:
                break
            assert bridge.poll() is None, (
                f"vmsbridge run exited {bridge.returncode}: {bridge.communicate()[1]}"
            )
            assert time.monotonic() < deadline, (
                f"gave up after {WAIT:.0f} s waiting for the panel's door.forced"
            )
            time.sleep(0.2)
        assert (forced[0]["device_id"], forced[0]["location"]) == ("annex-door", "annex")
        bridge.send_signal(signal.SIGINT)
        _, err = bridge.communicate(timeout=WAIT)
        assert bridge.returncode == 0, err
    finally:
        if bridge.poll() is None:
            bridge.kill()
            bridge.wait(timeout=WAIT)
