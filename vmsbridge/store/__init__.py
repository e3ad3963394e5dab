"""Persistence. The only package that knows SQL; everything above it sees ``vmsbridge.model``."""

from vmsbridge.store.database import Database, resolve_db_url

__all__ = ["Database", "resolve_db_url"]
