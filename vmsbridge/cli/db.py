"""``vmsbridge db upgrade|current``"""

from __future__ import annotations

import argparse

from vmsbridge.cli.common import add_common_options, db_url_for, load_site


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("db", help="database schema: upgrade, current", description="Manage the schema.")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = actions.add_parser("upgrade", help="create or migrate the schema to this version (safe to repeat)")
    add_common_options(up)
    up.set_defaults(handler=db_upgrade)
    cur = actions.add_parser("current", help="print the schema revision of the database")
    add_common_options(cur)
    cur.set_defaults(handler=db_current)


def db_upgrade(args: argparse.Namespace) -> int:
    import asyncio

    from vmsbridge.store.database import Database
    from vmsbridge.store.migrate import head_revision, upgrade

    url = db_url_for(args, load_site(args))

    async def go() -> tuple[str, str]:
        async with Database(url) as db:
            return db.display_url, await upgrade(db)

    where, revision = asyncio.run(go())
    print(f"{where}: schema at revision {revision} (head {head_revision()})")
    return 0


def db_current(args: argparse.Namespace) -> int:
    import asyncio

    from vmsbridge.store.database import Database
    from vmsbridge.store.migrate import current_revision, head_revision

    url = db_url_for(args, load_site(args))

    async def go() -> str | None:
        async with Database(url) as db:
            return await current_revision(db)

    revision = asyncio.run(go())
    print(revision or "none (run `vmsbridge db upgrade`)")
    return 0 if revision == head_revision() else 1
