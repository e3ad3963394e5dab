"""Schema migrations run from inside the application (``vmsbridge db upgrade``) and the tests."""

from __future__ import annotations

__all__ = ["current_revision", "head_revision", "require_current_schema", "upgrade"]

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from vmsbridge.errors import DatabaseNotReady
from vmsbridge.store.database import Database

_MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the migrations folder has no revisions"
    return head


async def upgrade(db: Database, revision: str = "head") -> str:
    """Bring the schema to ``revision``; returns the revision now in place."""

    def _upgrade(connection: Connection) -> str | None:
        command.upgrade(alembic_config(connection), revision)
        return MigrationContext.configure(connection).get_current_revision()

    async with db.engine.begin() as conn:
        now = await conn.run_sync(_upgrade)
    return now or "base"


async def current_revision(db: Database) -> str | None:
    async with db.engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


async def require_current_schema(db: Database) -> None:
    have = await current_revision(db)
    want = head_revision()
    if have != want:
        state = (
            "has no vmsbridge schema" if have is None else f"is at revision {have}, this version needs {want}"
        )
        raise DatabaseNotReady(db.display_url, state)
