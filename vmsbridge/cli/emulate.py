"""``vmsbridge emulate onvif|xprotect``: serve emulated devices and VMS for labs and tests."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from vmsbridge.cli.common import add_duration_option, load_site, until_stopped
from vmsbridge.errors import ConfigError, ConfigProblem

CONTROL_HELP = "Control surface on the same port: POST /control/..., GET /control/state (see the README)."


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("emulate", help="serve emulated ONVIF devices or an XProtect API Gateway")
    kinds = parser.add_subparsers(dest="kind", required=True, metavar="KIND")

    onvif = kinds.add_parser(
        "onvif",
        help="ONVIF devices (SOAP 1.2: device, media, PTZ, events, device I/O, doors)",
        description="Serve one emulated ONVIF device per [[connectors.onvif]] of a site file on "
        "127.0.0.1, one per port from --port upward, until SIGINT/SIGTERM. " + CONTROL_HELP,
    )
    _common(onvif, default_port=8080)
    onvif.add_argument("--clip", type=Path, default=None, help="video file served at every stream URI")
    onvif.set_defaults(handler=emulate_onvif)

    xprotect = kinds.add_parser(
        "xprotect",
        help="an XProtect API Gateway (IDP token, REST, Events & State WebSocket, alarms)",
        description="Serve an emulated API Gateway with the cameras, inputs and event types of the "
        "site file's XProtect connector on http://127.0.0.1:--port, until SIGINT/SIGTERM. " + CONTROL_HELP,
    )
    _common(xprotect, default_port=8081)
    xprotect.set_defaults(handler=emulate_xprotect)


def _common(parser: argparse.ArgumentParser, default_port: int) -> None:
    parser.add_argument(
        "--devices",
        type=Path,
        default=None,
        metavar="FILE",
        help="site configuration to take devices from (default: the example campus)",
    )
    parser.add_argument("--port", type=int, default=default_port, help="port (default: %(default)s)")
    parser.add_argument("--user", default="admin", help="user name accepted (default: %(default)s)")
    parser.add_argument("--password", default="admin", help="lab password accepted (default: %(default)s)")
    add_duration_option(parser)
    parser.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


async def _emulate_onvif(args: argparse.Namespace) -> None:
    from connectors.onvif.emulator import OnvifEmulator
    from connectors.onvif.sitedevices import emulated_devices

    site = load_site(argparse.Namespace(config=args.devices))
    specs = emulated_devices(site, clip=args.clip)
    if not specs:
        raise ConfigError(
            str(args.devices), [ConfigProblem("connectors.onvif", "the file has no ONVIF devices")]
        )
    async with OnvifEmulator(
        specs, base_port=args.port, username=args.user, password=args.password
    ) as emulator:
        for device in emulator.devices:
            spec = device.spec
            cams = ", ".join(p.token + (" (PTZ)" if p.ptz else "") for p in spec.profiles)
            print(
                f"{spec.id:<14} {device.url}   profiles: {cams}; inputs: {', '.join(spec.inputs) or '-'}; "
                f"doors: {', '.join(spec.doors) or '-'}",
                flush=True,
            )
        print(f"user {args.user!r}; Ctrl-C to stop", flush=True)
        await until_stopped(args.duration)


def emulate_onvif(args: argparse.Namespace) -> int:
    asyncio.run(_emulate_onvif(args))
    return 0


async def _emulate_xprotect(args: argparse.Namespace) -> None:
    from connectors.xprotect.emulator import XProtectEmulator
    from connectors.xprotect.sitespec import emulated_gateway

    site = load_site(argparse.Namespace(config=args.devices))
    if not site.connectors.xprotect:
        raise ConfigError(
            str(args.devices), [ConfigProblem("connectors.xprotect", "the file has no XProtect gateway")]
        )
    spec = emulated_gateway(site, site.connectors.xprotect[0].id)
    async with XProtectEmulator(spec, port=args.port, username=args.user, password=args.password) as emulator:
        print(
            f"{site.connectors.xprotect[0].id:<14} {emulator.url}   cameras: {len(spec.cameras)}; "
            f"inputs: {len(spec.inputs)}; user-defined events: {len(spec.user_defined_events)}",
            flush=True,
        )
        print(f"user {args.user!r}; Ctrl-C to stop", flush=True)
        await until_stopped(args.duration)


def emulate_xprotect(args: argparse.Namespace) -> int:
    asyncio.run(_emulate_xprotect(args))
    return 0
