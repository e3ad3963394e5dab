"""``vmsbridge run`` and ``vmsbridge demo`` build the same bridge: the same tasks and components,
the notification deliverer and the SIGHUP handler included; only the site, database and options differ."""

from __future__ import annotations

import asyncio
from pathlib import Path

from connectors.lab import emulated_site
from tests.rules.conftest import CLIP, SITE, rules_site
from vmsbridge.cli import demo, run
from vmsbridge.cli.main import build_parser
from vmsbridge.config import SiteConfig
from vmsbridge.runtime import BridgeOptions, build_bridge


async def graph_of(site: SiteConfig, options: BridgeOptions, secrets: Path) -> frozenset[str]:
    await asyncio.to_thread(secrets.mkdir)
    async with emulated_site(site, CLIP, secrets) as lab, build_bridge(lab.site, options) as bridge:
        assert not bridge.failed.is_set()
        return bridge.graph()


async def test_run_and_demo_build_the_same_graph(tmp_path: Path) -> None:
    site = rules_site(tmp_path)
    config = tmp_path / "site.toml"
    config.write_text(SITE, encoding="utf-8")
    args = build_parser().parse_args(
        ["run", "--config", str(config), "--db", f"sqlite+aiosqlite:///{tmp_path / 'run.db'}"]
    )
    served = await graph_of(site, run.bridge_options(args, site), tmp_path / "run-secrets")

    data_dir = tmp_path / "demo"
    shown = await graph_of(
        demo.demo_site(site, data_dir, clip_after=5),
        demo.bridge_options(f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}", data_dir),
        tmp_path / "demo-secrets",
    )

    assert served == shown
    core = {"stores", "bus", "heartbeat", "ingest", "correlator", "health-monitor", "commit-watch"}
    core |= {"evidence-audit"}
    rules = {"clip-jobs", "http", "controls", "rules"}
    sources = {"source:onvif:onvif-io", "source:onvif:onvif-ptz", "source:xprotect:xprotect-main"}
    assert served >= core | rules | {"notifications", "sighup"} | sources
