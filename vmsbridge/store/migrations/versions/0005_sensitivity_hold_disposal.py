"""Victim-sensitive and legal-hold flags on incidents; disposal time on evidence items.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vmsbridge.store.tables import UtcDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(
            sa.Column("victim_sensitive", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("legal_hold", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("evidence_items") as batch:
        batch.add_column(sa.Column("disposed_at", UtcDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("evidence_items") as batch:
        batch.drop_column("disposed_at")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("legal_hold")
        batch.drop_column("victim_sensitive")
