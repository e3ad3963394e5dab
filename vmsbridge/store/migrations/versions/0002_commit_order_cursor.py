"""Read the event log in commit-safe order: each event records its inserting transaction.

On PostgreSQL, ids are taken at insert but become visible at commit, so a reader that follows ids
alone can step past an event that commits later. With the transaction id stored, the correlator
reads in (transaction, id) order and only below the oldest transaction still running, which no
later commit can precede. SQLite has one writer at a time, so ids already commit in order there.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vmsbridge.store.tables import BigId

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    default = sa.text("(pg_current_xact_id()::text)::bigint") if postgres else sa.text("0")
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("txid", BigId, nullable=False, server_default=default))
    op.create_index("ix_events_txid_id", "events", ["txid", "id"])
    with op.batch_alter_table("stage_cursors") as batch:
        batch.add_column(sa.Column("last_txid", BigId, nullable=False, server_default=sa.text("0")))


def downgrade() -> None:
    with op.batch_alter_table("stage_cursors") as batch:
        batch.drop_column("last_txid")
    op.drop_index("ix_events_txid_id", table_name="events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("txid")
