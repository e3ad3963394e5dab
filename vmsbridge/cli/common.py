"""Options every command shares and the small helpers that turn them into services."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from vmsbridge.config import SiteConfig, default_config_path, load_site_config
from vmsbridge.store.database import resolve_db_url


def add_common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE",
        help="site configuration (TOML); default: the example campus shipped with vmsbridge",
    )
    parser.add_argument(
        "--db",
        default=None,
        metavar="URL",
        help="database URL, e.g. postgresql://user@host/vmsbridge or sqlite:///path.db; "
        "default: $VMSBRIDGE_DB, then [storage].db_url, then SQLite in $VMSBRIDGE_DATA "
        "(~/.local/share/vmsbridge)",
    )
    parser.add_argument(
        "--log-level",
        default="WARNING",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="how much to log on standard error (default: %(default)s)",
    )


def load_site(args: argparse.Namespace) -> SiteConfig:
    return load_site_config(args.config or default_config_path())


def db_url_for(args: argparse.Namespace, site: SiteConfig) -> str:
    return resolve_db_url(args.db, site.storage.db_url, site.storage.data_dir)


def local_time(value: datetime, site: SiteConfig) -> str:
    return value.astimezone(ZoneInfo(site.site.timezone)).strftime("%Y-%m-%d %H:%M:%S %Z")


def print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
