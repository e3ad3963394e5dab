"""Shared fixtures. Store tests run on SQLite and on PostgreSQL; PostgreSQL being down is a failure."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from hypothesis import settings

# The person_data marker and its guard (see tests/personal_data.py); pytester tests that guard.
from tests.personal_data import person_data_guard, pytest_configure  # noqa: F401
from vmsbridge.config import SiteConfig, SiteDirectory, default_config_path, load_site_config
from vmsbridge.store.stores import Stores, open_store

# CI must not fail by chance: the same examples every run, and no per-example deadline on a loaded
# 2-core machine. Set HYPOTHESIS_PROFILE=explore locally to search with fresh random examples.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("explore", deadline=None, max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

pytest_plugins = ["pytester"]

PG_ADMIN_DSN = os.environ.get("VMSBRIDGE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def site() -> SiteConfig:
    return load_site_config(default_config_path())


@pytest.fixture(scope="session")
def directory(site: SiteConfig) -> SiteDirectory:
    return SiteDirectory(site)


async def _create_pg_database() -> str:
    try:
        admin = await asyncpg.connect(PG_ADMIN_DSN, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(
            f"PostgreSQL is required for the store tests and is unreachable at {PG_ADMIN_DSN}: {exc}. "
            "Start it (see /work/.library/env) or point VMSBRIDGE_TEST_PG at one.",
            pytrace=False,
        )
    name = f"vmsb_test_{uuid.uuid4().hex[:12]}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base = PG_ADMIN_DSN.rsplit("/", 1)[0]
    return f"{base.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{name}"


async def _drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(PG_ADMIN_DSN, timeout=10)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    url = await _create_pg_database()
    try:
        yield url
    finally:
        await _drop_pg_database(url)


@pytest.fixture
async def stores(db_url: str) -> AsyncIterator[Stores]:
    async with open_store(db_url, migrate=True) as s:
        yield s


class EventFactory:
    """Builds valid event payloads for the example campus, with unique native ids."""

    def __init__(self) -> None:
        self.base = datetime(2026, 11, 20, 22, 0, tzinfo=UTC)
        self.n = 0

    def __call__(
        self, kind: str = "motion.start", device_id: str = "cam-lotb-ptz", minutes: float = 0, **extra: Any
    ) -> dict[str, Any]:
        self.n += 1
        payload: dict[str, Any] = {
            "source": "test:factory",
            "native_id": f"ev-{self.n}",
            "kind": kind,
            "device_id": device_id,
            "occurred_at": (self.base + timedelta(minutes=minutes)).isoformat(),
            "received_at": (self.base + timedelta(minutes=minutes, seconds=1)).isoformat(),
        }
        payload.update(extra)
        return payload


@pytest.fixture
def make_event() -> EventFactory:
    return EventFactory()
