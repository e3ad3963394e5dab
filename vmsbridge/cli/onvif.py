"""``vmsbridge onvif probe|watch`` and ``vmsbridge emulate onvif``.

The CLI is the composition root that may name connector packages; they are imported inside the
handlers so that other commands do not pay for loading zeep and the emulator.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import Any

from vmsbridge.bus import EventPayload
from vmsbridge.cli.common import load_site, print_json
from vmsbridge.config import OnvifSource, SiteDirectory, default_config_path, load_site_config
from vmsbridge.errors import ConfigError, ConfigProblem
from vmsbridge.model import Event, IngestOutcome

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
    watch.add_argument("--for", dest="duration", type=float, default=None, metavar="SECONDS")
    watch.add_argument("--json", action="store_true", help="one JSON object per event")
    watch.set_defaults(handler=watch_device)


def add_emulate_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("emulate", help="serve emulated devices for labs and tests")
    kinds = parser.add_subparsers(dest="kind", required=True, metavar="KIND")
    onvif = kinds.add_parser(
        "onvif",
        help="ONVIF devices (SOAP 1.2: device, media, PTZ, events, device I/O, doors)",
        description="Serve one emulated ONVIF device per [[connectors.onvif]] of a site file on "
        "127.0.0.1, one per port from --port upward, until SIGINT/SIGTERM. Each device also has a "
        "control surface: POST /control/fire, /control/input, /control/restart, /control/clock, "
        "/control/quirks; GET /control/state.",
    )
    onvif.add_argument(
        "--devices",
        type=Path,
        default=None,
        metavar="FILE",
        help="site configuration whose ONVIF devices to serve (default: the example campus)",
    )
    onvif.add_argument("--port", type=int, default=8080, help="first port (default: %(default)s)")
    onvif.add_argument("--user", default="admin", help="user name devices accept (default: %(default)s)")
    onvif.add_argument(
        "--password", default="admin", help="lab password devices accept (default: %(default)s)"
    )
    onvif.add_argument("--clip", type=Path, default=None, help="video file served at every stream URI")
    onvif.add_argument(
        "--for",
        dest="duration",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop by itself after this many seconds",
    )
    onvif.set_defaults(handler=emulate_onvif)


def _device_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("address", metavar="HOST[:PORT]", help="device address (port 80 if omitted)")
    parser.add_argument("--user", required=True, help="ONVIF user name")
    secret = parser.add_mutually_exclusive_group()
    secret.add_argument(
        "--password-env",
        default=None,
        metavar="VAR",
        help=f"environment variable holding the password (default: {DEFAULT_PASSWORD_ENV})",
    )
    secret.add_argument(
        "--password-file",
        type=Path,
        default=None,
        metavar="FILE",
        help="file whose first line is the password",
    )
    parser.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep:
        return text, 80
    if not port.isdigit() or not 0 < int(port) < 65_536:
        raise ConfigError("address", [ConfigProblem("HOST[:PORT]", f"{text!r}: port must be 1-65535")])
    return host, int(port)


def _password(args: argparse.Namespace) -> str:
    if args.password_file is not None:
        try:
            return str(args.password_file.read_text(encoding="utf-8").splitlines()[0].strip())
        except (OSError, IndexError) as exc:
            raise ConfigError(
                "--password-file", [ConfigProblem("--password-file", f"cannot read: {exc}")]
            ) from None
    variable = args.password_env or DEFAULT_PASSWORD_ENV
    value = os.environ.get(variable)
    if not value:
        raise ConfigError(
            "--password-env", [ConfigProblem("--password-env", f"environment variable {variable} is not set")]
        )
    return value


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
        return {
            "address": f"{host}:{port}",
            "manufacturer": info.manufacturer,
            "model": info.model,
            "firmware": info.firmware,
            "serial": info.serial,
            "clock_skew_seconds": round(client.skew.total_seconds(), 1),
            "profiles": described,
            "presets": presets,
            "topics": await client.event_topics(),
        }


def probe_device(args: argparse.Namespace) -> int:
    from connectors.onvif.errors import OnvifError

    host, port = _address(args.address)
    try:
        report = asyncio.run(_probe(host, port, args.user, _password(args)))
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
    print(f"  event topics ({len(report['topics'])}):")
    for topic in report["topics"]:
        print(f"    {topic}")
    return 0


class PrintingBus:
    """A bus that prints instead of storing: ``watch`` shows, it does not record."""

    def __init__(self, as_json: bool) -> None:
        self._json = as_json

    async def submit(self, payload: EventPayload) -> asyncio.Future[IngestOutcome]:
        if isinstance(payload, Event):
            if self._json:
                print(payload.model_dump_json(exclude={"raw"}), flush=True)
            else:
                details = " ".join(f"{k}={v}" for k, v in payload.attributes.items() if k != "topic")
                when = payload.occurred_at.strftime("%H:%M:%S.%f")[:-3] + "Z"
                print(f"{when}  {payload.kind.value:<24} {payload.device_id:<20} {details}", flush=True)
        done: asyncio.Future[IngestOutcome] = asyncio.get_running_loop().create_future()
        done.set_result(IngestOutcome("stored"))
        return done


async def _watch(
    connector: OnvifSource, directory: SiteDirectory, password: str, args: argparse.Namespace
) -> None:
    from connectors.onvif.source import OnvifEventSource

    source = OnvifEventSource(connector, directory, password)
    task = asyncio.create_task(source.run(PrintingBus(args.json)))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=args.duration)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def watch_device(args: argparse.Namespace) -> int:
    host, port = _address(args.address)
    site = load_site_config(args.config or default_config_path())
    if args.connector is not None:
        known = {c.id: c for c in site.connectors.onvif}
        if args.connector not in known:
            raise ConfigError(
                "--connector",
                [ConfigProblem("--connector", f"{args.connector!r} is not one of {sorted(known)}")],
            )
        connector = known[args.connector].model_copy(
            update={"host": host, "port": port, "username": args.user}
        )
    else:
        connector = OnvifSource(
            id="watch", host=host, port=port, username=args.user, password_env=DEFAULT_PASSWORD_ENV
        )
    asyncio.run(_watch(connector, SiteDirectory(site), _password(args), args))
    return 0


async def _emulate(args: argparse.Namespace) -> None:
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
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=args.duration)


def emulate_onvif(args: argparse.Namespace) -> int:
    asyncio.run(_emulate(args))
    return 0


__all__ = ["add_emulate_parser", "add_parser"]
