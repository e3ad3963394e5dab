"""``vmsbridge emulate <kind>``: serve emulated devices and VMS for labs and tests.

Each connector plug-in registers its own kind (``plugin.add_emulate_cli``) with the options here.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from vmsbridge.cli.common import add_duration_option

if TYPE_CHECKING:
    from vmsbridge.plugins import ConnectorPlugin

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
