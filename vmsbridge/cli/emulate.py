"""``vmsbridge emulate <kind>``: serve emulated devices and VMS for labs and tests.

Each connector plug-in registers its own kind (``plugin.add_emulate_cli``) through
:func:`add_emulate_kind`: the options, reading the site file and serving until stopped are here; the
plug-in brings only its emulators and the lines that describe them.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING

from vmsbridge.cli.common import add_duration_option, load_site, until_stopped

if TYPE_CHECKING:
    from vmsbridge.config import SiteConfig
    from vmsbridge.plugins import ConnectorPlugin

# Emulators for a site, started from the ``emulate <kind>`` options; they yield one line per
# emulated device or VMS, for the operator.
Serve = Callable[[argparse.Namespace, "SiteConfig"], AbstractAsyncContextManager[Sequence[str]]]

CONTROL_HELP = "Control surface on the same port: POST /control/..., GET /control/state (see the README)."


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], plugins: Mapping[str, ConnectorPlugin]
) -> None:
    parser = sub.add_parser("emulate", help="serve emulated devices or VMS of an installed connector kind")
    kinds = parser.add_subparsers(dest="kind", required=True, metavar="KIND")
    for plugin in plugins.values():
        plugin.add_emulate_cli(kinds)


def add_emulator_options(parser: argparse.ArgumentParser, default_port: int) -> None:
    """The options every ``emulate <kind>`` takes."""
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


def add_emulate_kind(
    kinds: argparse._SubParsersAction[argparse.ArgumentParser],
    kind: str,
    *,
    summary: str,
    description: str,
    default_port: int,
    serve: Serve,
) -> argparse.ArgumentParser:
    """``vmsbridge emulate <kind>``: read the site file, ``serve`` it on loopback, print what is
    served, run until SIGINT/SIGTERM (or --duration). The parser is returned for extra options."""
    parser = kinds.add_parser(kind, help=summary, description=f"{description} {CONTROL_HELP}")
    add_emulator_options(parser, default_port)

    def handler(args: argparse.Namespace) -> int:
        import asyncio

        asyncio.run(_serve(args, serve))
        return 0

    parser.set_defaults(handler=handler)
    return parser


async def _serve(args: argparse.Namespace, serve: Serve) -> None:
    site = load_site(argparse.Namespace(config=args.devices))
    async with serve(args, site) as served:
        for line in served:
            print(line, flush=True)
        print(f"user {args.user!r}; Ctrl-C to stop", flush=True)
        await until_stopped(args.duration)
