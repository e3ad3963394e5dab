"""Alembic environment. ``vmsbridge db upgrade`` hands over its own connection (see ``migrate.py``)."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from vmsbridge.store import db_errors
from vmsbridge.store.database import resolve_db_url
from vmsbridge.store.tables import Base

target_metadata = Base.metadata


def _configure_and_run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine() -> None:
    url = context.config.get_main_option("sqlalchemy.url") or resolve_db_url(None)
    engine = create_async_engine(url, poolclass=NullPool, **db_errors.ENGINE_OPTIONS)
    db_errors.install(engine.sync_engine)
    async with engine.connect() as connection:
        await connection.run_sync(_configure_and_run)
        await connection.commit()
    await engine.dispose()


given = context.config.attributes.get("connection")
if given is not None:
    _configure_and_run(given)
else:
    asyncio.run(_run_with_own_engine())
