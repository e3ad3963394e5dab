"""``vmsbridge onvif probe|watch`` and ``vmsbridge emulate onvif``, registered by the ONVIF plug-in.

Building the command line imports this module, so the connector itself (zeep, aiohttp, the
emulator) and the site configuration are imported inside the handlers.
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
    from connectors.onvif.client import OnvifClient
    from connectors.onvif.config import OnvifSource
    from vmsbridge.config import SiteConfig, SiteDirectory

DEFAULT_PASSWORD_ENV = "VMSBRIDGE_ONVIF_PASSWORD"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("onvif", help="talk to one ONVIF device: probe it, watch its events")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    probe = actions.add_parser(
        "probe",
        help="device information, media profiles, PTZ presets and event topics",
        description="Connect to an ONVIF device the way the bridge does (clock skew measured, "
        "WS-UsernameToken digest) and report what it offers. The password is read from an "
        "environment variable or a file, never from the command line.",
    )
    _device_options(probe)
    probe.add_argument("--json", action="store_true", help="one JSON object")
    probe.set_defaults(handler=probe_device)

    watch = actions.add_parser(
        "watch",
        help="print the device's events live, normalized (nothing is stored)",
        description="Subscribe (PullPoint) and print every event as vmsbridge normalizes it. With "
        "--config and --connector, device tokens are mapped to the site's phones, doors and cameras.",
    )
    _device_options(watch)
    watch.add_argument("--config", type=Path, default=None, help="site configuration for mapping tokens")
    watch.add_argument("--connector", default=None, help="which [[connectors.onvif]] this device is")
    add_duration_option(watch)
    watch.add_argument("--json", action="store_true", help="one JSON object per event")
    watch.set_defaults(handler=watch_device)


def _device_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("address", metavar="HOST[:PORT]", help="device address (port 80 if omitted)")
    parser.add_argument("--user", required=True, help="ONVIF user name")
    add_password_options(parser, DEFAULT_PASSWORD_ENV)
    parser.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep:
        return text, 80
    if not port.isdigit() or not 0 < int(port) < 65_536:
        raise ConfigError("address", [ConfigProblem("HOST[:PORT]", f"{text!r}: port must be 1-65535")])
    return host, int(port)


async def _probe(host: str, port: int, user: str, password: str) -> dict[str, Any]:
    from connectors.onvif.client import OnvifClient

    async with OnvifClient(f"{host}:{port}", host, port, user, password) as client:
        info = await client.device_information()
        profiles = await client.profiles()
        presets: dict[str, dict[str, str]] = {}
        described = []
        for profile in profiles:
            if profile.ptz:
                presets[profile.token] = await client.presets(profile.token)
            described.append(
                {
                    "token": profile.token,
                    "name": profile.name,
                    "video_source": profile.video_source,
                    "encoding": profile.encoding,
                    "ptz": profile.ptz,
                    "stream_uri": await client.stream_uri(profile.token),
                    "snapshot_uri": await client.snapshot_uri(profile.token),
                }
            )
        recordings, recordings_error = await _recordings(client)
        return {
            "address": f"{host}:{port}",
            "manufacturer": info.manufacturer,
            "model": info.model,
            "firmware": info.firmware,
            "serial": info.serial,
            "clock_skew_seconds": round(client.skew.total_seconds(), 1),
            "profiles": described,
            "presets": presets,
            "recordings": recordings,
            **({"recordings_error": recordings_error} if recordings_error else {}),
            "topics": await client.event_topics(),
        }


async def _recordings(client: OnvifClient) -> tuple[list[dict[str, Any]], str | None]:
    """Profile G: each recording with its span and replay URI; a device without it says why."""
    from connectors.onvif.errors import OnvifError

    try:
        found = await client.recordings()
        return [
            {
                "token": r.token,
                "source": r.source,
                "earliest": r.earliest.isoformat() if r.earliest else None,
                "latest": r.latest.isoformat() if r.latest else None,
                "replay_uri": await client.replay_uri(r.token),
            }
            for r in found
        ], None
    except OnvifError as exc:
        return [], str(exc)


def probe_device(args: argparse.Namespace) -> int:
    import asyncio

    from connectors.onvif.errors import OnvifError

    host, port = _address(args.address)
    try:
        report = asyncio.run(_probe(host, port, args.user, password_from(args)))
    except OnvifError as exc:
        print(f"vmsbridge: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print_json(report)
        return 0
    print(
        f"{report['address']}: {report['manufacturer']} {report['model']} (firmware {report['firmware']}, "
        f"serial {report['serial']}), clock {report['clock_skew_seconds']:+} s from ours"
    )
    for profile in report["profiles"]:
        ptz = " PTZ" if profile["ptz"] else ""
        print(f"  profile {profile['token']} ({profile['encoding']}{ptz}) {profile['stream_uri']}")
        for token, name in report["presets"].get(profile["token"], {}).items():
            print(f"      preset {token}: {name}")
    for recording in report["recordings"]:
        print(
            f"  recording {recording['token']} of {recording['source']} "
            f"({recording['earliest']} .. {recording['latest']}) {recording['replay_uri']}"
        )
    if "recordings_error" in report:
        print(f"  no recordings (Profile G): {report['recordings_error']}")
    print(f"  event topics ({len(report['topics'])}):")
    for topic in report["topics"]:
        print(f"    {topic}")
    return 0


async def _watch(
    connector: OnvifSource, directory: SiteDirectory, password: str, args: argparse.Namespace
) -> int:
    """Watch until stopped; 1 with the reason when the device never let us subscribe."""
    from connectors.onvif.source import OnvifEventSource

    source = OnvifEventSource(connector, directory, password)
    await watch_source(source.run, args.duration, args.json)
    if source.loop.ever_subscribed:
        return 0
    reason = source.loop.last_error or "stopped before the device answered"
    print(f"vmsbridge: never subscribed to the events of {args.address}: {reason}", file=sys.stderr)
    return 1


def watch_device(args: argparse.Namespace) -> int:
    import asyncio

    from connectors.onvif.config import OnvifSource, onvif_connectors
    from vmsbridge.config import SiteDirectory, default_config_path, load_site_config

    host, port = _address(args.address)
    site = load_site_config(args.config or default_config_path())
    if args.connector is not None:
        connector = pick_connector(onvif_connectors(site), args.connector).model_copy(
            update={"host": host, "port": port, "username": args.user}
        )
    else:
        connector = OnvifSource(
            id="watch", host=host, port=port, username=args.user, password_env=DEFAULT_PASSWORD_ENV
        )
    return asyncio.run(_watch(connector, SiteDirectory(site), password_from(args), args))


def add_emulate_parser(kinds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = add_emulate_kind(
        kinds,
        "onvif",
        summary="ONVIF devices (SOAP 1.2: device, media, PTZ, events, device I/O, doors)",
        description="Serve one emulated ONVIF device per [[connectors.onvif]] of a site file on "
        "127.0.0.1, one per port from --port upward, until SIGINT/SIGTERM.",
        default_port=8080,
        serve=_serve,
    )
    parser.add_argument("--clip", type=Path, default=None, help="video file served at every stream URI")


@asynccontextmanager
async def _serve(args: argparse.Namespace, site: SiteConfig) -> AsyncIterator[Sequence[str]]:
    from connectors.onvif.emulator import OnvifEmulator
    from connectors.onvif.sitedevices import emulated_devices

    specs = emulated_devices(site, clip=args.clip)
    if not specs:
        raise ConfigError(
            str(args.devices), [ConfigProblem("connectors.onvif", "the file has no ONVIF devices")]
        )
    async with OnvifEmulator(
        specs, base_port=args.port, username=args.user, password=args.password
    ) as emulator:
        lines = []
        for device in emulator.devices:
            spec = device.spec
            cams = ", ".join(p.token + (" (PTZ)" if p.ptz else "") for p in spec.profiles)
            lines.append(
                f"{spec.id:<14} {device.url}   profiles: {cams}; inputs: {', '.join(spec.inputs) or '-'}; "
                f"doors: {', '.join(spec.doors) or '-'}"
            )
        yield lines


__all__ = ["add_emulate_parser", "add_parser"]
