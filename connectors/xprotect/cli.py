"""``vmsbridge xprotect probe|watch`` and ``vmsbridge emulate xprotect``, registered by the XProtect plug-in.

Building the command line imports this module, so the connector itself (aiohttp, the emulator) and
the site configuration are imported inside the handlers.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vmsbridge.cli.common import (
    add_duration_option,
    add_password_options,
    password_from,
    pick_connector,
    print_json,
    watch_source,
)
from vmsbridge.cli.emulate import add_emulate_kind
from vmsbridge.errors import ConfigError, ConfigProblem

if TYPE_CHECKING:
    from connectors.xprotect.config import XProtectSource
    from vmsbridge.config import SiteConfig, SiteDirectory

DEFAULT_PASSWORD_ENV = "VMSBRIDGE_XPROTECT_PASSWORD"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("xprotect", help="talk to an XProtect API Gateway: probe it, watch its events")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    probe = actions.add_parser(
        "probe",
        help="version, cameras, inputs, event types and alarm definitions; compared with the site",
        description="Sign in to the API Gateway's identity provider and list what the VMS has. With "
        "--connector, also report VMS cameras the site configuration does not know, and the reverse.",
    )
    _gateway_options(probe)
    probe.add_argument("--json", action="store_true", help="one JSON object")
    probe.set_defaults(handler=probe_gateway)

    watch = actions.add_parser(
        "watch",
        help="print the VMS's events live, normalized (nothing is stored)",
        description="Open an Events & State session (resumed across short drops) and print every event "
        "as vmsbridge normalizes it, mapped to the site's devices when --connector is given.",
    )
    _gateway_options(watch)
    add_duration_option(watch)
    watch.add_argument("--json", action="store_true", help="one JSON object per event")
    watch.set_defaults(handler=watch_gateway)


def _gateway_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", metavar="URL", help="API Gateway base URL, e.g. https://vms.example.edu")
    parser.add_argument("--user", required=True, help="basic user name")
    add_password_options(parser, DEFAULT_PASSWORD_ENV)
    parser.add_argument(
        "--ca-file", type=Path, default=None, help="CA bundle that signed the gateway's certificate"
    )
    parser.add_argument("--insecure", action="store_true", help="do not verify TLS (labs only)")
    parser.add_argument(
        "--config", type=Path, default=None, help="site configuration (default: the example campus)"
    )
    parser.add_argument("--connector", default=None, help="which [[connectors.xprotect]] this gateway is")
    parser.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def _connector(args: argparse.Namespace) -> tuple[XProtectSource, SiteDirectory]:
    from connectors.xprotect.config import XProtectSource, xprotect_connectors
    from vmsbridge.config import SiteDirectory, default_config_path, load_site_config

    site = load_site_config(args.config or default_config_path())
    update = {
        "url": args.url,
        "username": args.user,
        "ca_file": args.ca_file,
        "insecure_skip_verify": args.insecure,
    }
    if args.connector is None:
        connector = XProtectSource(id="watch", password_env=DEFAULT_PASSWORD_ENV, **update)
    else:
        connector = pick_connector(xprotect_connectors(site), args.connector).model_copy(update=update)
    return connector, SiteDirectory(site)


async def _probe(
    connector: XProtectSource, directory: SiteDirectory, password: str, compare: bool
) -> dict[str, Any]:
    from connectors.xprotect.client import XProtectClient
    from connectors.xprotect.mapping import XProtectMap

    async with XProtectClient.for_connector(connector, password) as client:
        inventory = await client.inventory()
        presets = {cid: await client.presets(cid) for cid in inventory.cameras}

    def brief(items: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {
                "id": item_id,
                "name": item.get("name") or item.get("displayName"),
                "enabled": item.get("enabled", True),
            }
            for item_id, item in items.items()
        ]

    cameras = brief(inventory.cameras)
    for camera in cameras:
        camera["ptz_presets"] = presets.get(camera["id"], {})
    report: dict[str, Any] = {
        "url": connector.url,
        "version": inventory.version,
        "cameras": cameras,
        "inputs": brief(inventory.inputs),
        "outputs": brief(inventory.outputs),
        "user_defined_events": brief(inventory.user_defined_events),
        "event_types": brief(inventory.event_types),
        "alarm_definitions": brief(inventory.alarm_definitions),
    }
    if compare:
        check = XProtectMap(connector, directory).reconcile(inventory)
        report["vms_cameras_not_in_site"] = [{"id": i, "name": n} for i, n in check.vms_only]
        report["site_cameras_not_in_vms"] = [{"site_id": s, "vms_id": v} for s, v in check.site_only]
    return report


def probe_gateway(args: argparse.Namespace) -> int:
    import asyncio

    from connectors.xprotect.errors import XProtectError

    connector, directory = _connector(args)
    try:
        report = asyncio.run(_probe(connector, directory, password_from(args), args.connector is not None))
    except XProtectError as exc:
        print(f"vmsbridge: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print_json(report)
        return 0
    print(f"{report['url']}: XProtect {report['version']}")
    for title in ("cameras", "inputs", "outputs", "user_defined_events", "alarm_definitions"):
        print(f"  {title.replace('_', ' ')} ({len(report[title])}):")
        for item in report[title]:
            extra = "" if item["enabled"] else "  (disabled)"
            presets = item.get("ptz_presets")
            if presets:
                extra += "  presets: " + ", ".join(f"{k}={v}" for k, v in presets.items())
            print(f"    {item['id']}  {item['name']}{extra}")
    print(f"  event types: {len(report['event_types'])}")
    for key, label in (
        ("vms_cameras_not_in_site", "in the VMS, not in the site"),
        ("site_cameras_not_in_vms", "in the site, not in the VMS"),
    ):
        for item in report.get(key, []):
            print(f"  camera {label}: {item}")
    return 0


def watch_gateway(args: argparse.Namespace) -> int:
    import asyncio

    from connectors.xprotect.source import XProtectEventSource

    connector, directory = _connector(args)
    source = XProtectEventSource(connector, directory, password_from(args))
    asyncio.run(watch_source(source.run, args.duration, args.json))
    return 0


def add_emulate_parser(kinds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = add_emulate_kind(
        kinds,
        "xprotect",
        summary="an XProtect API Gateway (IDP token, REST, Events & State WebSocket, alarms)",
        description="Serve an emulated API Gateway with the cameras, inputs and event types of the "
        "site file's XProtect connector on http://127.0.0.1:--port, until SIGINT/SIGTERM.",
        default_port=8081,
        serve=_serve,
    )
    parser.add_argument(
        "--clip",
        type=Path,
        default=None,
        metavar="FILE",
        help="H.264/H.265 video a recording server (ImageServer protocol) has stored, looped, on every "
        "camera since 10 minutes before the start; the gateway's recordingServers item names it",
    )
    parser.add_argument(
        "--recorder-port", type=int, default=0, help="the recording server's port (default: any free one)"
    )


@asynccontextmanager
async def _serve(args: argparse.Namespace, site: SiteConfig) -> AsyncIterator[Sequence[str]]:
    from contextlib import AsyncExitStack
    from datetime import UTC, datetime

    from connectors.xprotect.config import xprotect_connectors
    from connectors.xprotect.emulator import XProtectEmulator
    from connectors.xprotect.sitespec import emulated_gateway

    gateways = xprotect_connectors(site)
    if not gateways:
        raise ConfigError(
            str(args.devices), [ConfigProblem("connectors.xprotect", "the file has no XProtect gateway")]
        )
    spec = emulated_gateway(site, gateways[0].id)
    async with AsyncExitStack() as stack:
        emulator = await stack.enter_async_context(
            XProtectEmulator(spec, port=args.port, username=args.user, password=args.password)
        )
        lines = [
            f"{gateways[0].id:<14} {emulator.url}   cameras: {len(spec.cameras)}; "
            f"inputs: {len(spec.inputs)}; user-defined events: {len(spec.user_defined_events)}"
        ]
        if args.clip is not None:
            from connectors.xprotect.emulator.imageserver import ImageServerEmulator
            from connectors.xprotect.emulator.recording import Recording
            from connectors.xprotect.lab import RECORDED_BEFORE

            try:
                recording = Recording(args.clip, datetime.now(UTC) - RECORDED_BEFORE, passes=None)
            except (OSError, ValueError) as exc:  # av's errors are OSError or ValueError
                raise ConfigError(
                    str(args.clip), [ConfigProblem("--clip", f"cannot be stored: {exc}")]
                ) from None
            recorder = await stack.enter_async_context(
                ImageServerEmulator(
                    emulator, {c.id: recording for c in spec.cameras}, port=args.recorder_port
                )
            )
            lines.append(
                f"{'recorder':<14} {recorder.url}   ImageServer protocol; {args.clip.name} on every camera"
            )
        yield lines
