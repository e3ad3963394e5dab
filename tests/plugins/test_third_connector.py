"""A third party's connector, installed next to vmsbridge, works without any change to vmsbridge.

The plug-in is written into a temporary folder as a package and a ``*.dist-info`` (what pip would
install) and put on the ``PYTHONPATH`` of a separate ``vmsbridge`` process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.plugins.distributions import write_distribution

WAIT = 60.0  # upper bound on any one command

PANEL = '''
"""An intrusion panel connector: one event source per [[connectors.panel]], and ``vmsbridge panel ping``."""

from __future__ import annotations

import argparse


class PanelSource:
    def __init__(self, connector_id, door):
        self.name = f"panel:{connector_id}"
        self._connector_id = connector_id
        self._door = door

    async def run(self, bus):
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


def ping(args):
    print(f"panel at {args.url}: pong")
    return 0


class PanelPlugin:
    kind = "panel"
    summary = "intrusion panels (a third party's connector)"
    capabilities = frozenset({"events"})

    def build(self, site, directory, work_dir):
        from vmsbridge.controls import Controls
        from vmsbridge.plugins import ConnectorSet, configured_connectors

        sources = []
        for connector in configured_connectors(site).get(self.kind, ()):
            door = next(d.id for d in site.doors if d.connector == connector.id)
            sources.append(PanelSource(connector.id, door))
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


def vmsbridge(site_packages: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(site_packages), os.environ.get("PYTHONPATH")])),
    }
    try:
        return subprocess.run(
            [sys.executable, "-m", "vmsbridge", *args],
            cwd=ROOT,
            env=env,
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
