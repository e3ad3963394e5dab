"""Rule firings claimed before their actions start, so a replayed event never fires a rule twice.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vmsbridge.store.tables import BigId, UtcDateTime

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rule_firings",
        sa.Column("rule", sa.String(80), nullable=False),
        sa.Column("event_id", BigId, nullable=False),
        sa.Column("fired_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], name="fk_rule_firings_event_id_events"),
        sa.PrimaryKeyConstraint("rule", "event_id", name="pk_rule_firings"),
    )
    op.create_index("ix_rule_firings_fired_at", "rule_firings", ["fired_at"])


def downgrade() -> None:
    op.drop_index("ix_rule_firings_fired_at", table_name="rule_firings")
    op.drop_table("rule_firings")
