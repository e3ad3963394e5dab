"""``vmsbridge check-config FILE``"""

from __future__ import annotations

import argparse
from pathlib import Path

from vmsbridge.errors import ConfigError


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "check-config",
        help="validate a site configuration file",
        description="Check a site configuration. Exit 0 when it is usable; exit 2 and name every "
        "problem (key path, value, what is expected) when it is not. Secrets that cannot be read "
        "now are reported as warnings: they are needed only when the connector starts.",
    )
    parser.add_argument("file", type=Path, metavar="FILE")
    parser.set_defaults(handler=check_config)


def check_config(args: argparse.Namespace) -> int:
    from vmsbridge.config import SiteDirectory, load_site_config, resolve_secret

    site = load_site_config(args.file)  # raises ConfigError -> exit 2 with every problem listed
    directory = SiteDirectory(site)
    warnings: list[str] = []
    configured = site.connectors.configured()
    for kind, sources in configured.items():
        for i, src in enumerate(sources):
            try:
                resolve_secret(f"connectors.{kind}[{i}]", src)
            except ConfigError as exc:
                warnings.extend(str(p) for p in exc.problems)
    connectors = ", ".join(f"{len(found)} {kind}" for kind, found in configured.items()) or "none"
    print(
        f"{args.file}: OK — {site.site.name}: {len(site.locations)} locations, "
        f"{len(directory.devices)} devices ({len(site.cameras)} cameras, {len(site.phones)} phones, "
        f"{len(site.doors)} doors, {len(site.io_modules)} I/O modules), connectors: {connectors}"
    )
    for warning in warnings:
        print(f"  warning: {warning} (needed when the connector starts)")
    return 0
