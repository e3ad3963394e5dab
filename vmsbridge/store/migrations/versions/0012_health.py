"""Bridge run sessions (camera health's "unknown" time) and an events index for health reports.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vmsbridge.store.tables import BigId, UtcDateTime

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bridge_runs",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("heartbeat_at", UtcDateTime(), nullable=False),
        sa.Column("stopped_at", UtcDateTime(), nullable=True),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("heartbeat_seconds", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_bridge_runs"),
    )
    op.create_index("ix_bridge_runs_started_at", "bridge_runs", ["started_at"])
    # A report reads a few kinds over a time window out of a log dominated by other kinds.
    op.create_index("ix_events_kind_occurred", "events", ["kind", "occurred_at"])


def downgrade() -> None:
    op.drop_index("ix_events_kind_occurred", table_name="events")
    op.drop_index("ix_bridge_runs_started_at", table_name="bridge_runs")
    op.drop_table("bridge_runs")
