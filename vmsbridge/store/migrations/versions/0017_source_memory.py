"""What event sources keep across restarts (a VMS's event session and position, alarms it raised).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vmsbridge.store.tables import Json, UtcDateTime

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "source_memory",
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("key", sa.String(80), nullable=False),
        sa.Column("value", Json, nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source", "key", name="pk_source_memory"),
    )


def downgrade() -> None:
    op.drop_table("source_memory")
