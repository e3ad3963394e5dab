"""Events set aside by a rule that failed on them a few times, with the error, for operators.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vmsbridge.store.tables import BigId, UtcDateTime

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rule_failures",
        sa.Column("rule", sa.String(80), nullable=False),
        sa.Column("event_id", BigId, nullable=False),
        sa.Column("error", sa.String(120), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("failed_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], name="fk_rule_failures_event_id_events"),
        sa.PrimaryKeyConstraint("rule", "event_id", name="pk_rule_failures"),
    )
    op.create_index("ix_rule_failures_failed_at", "rule_failures", ["failed_at"])


def downgrade() -> None:
    op.drop_index("ix_rule_failures_failed_at", table_name="rule_failures")
    op.drop_table("rule_failures")
