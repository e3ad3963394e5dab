"""Mask lifts: who may see behind a liftable privacy mask, why, and until when.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vmsbridge.store.tables import BigId, UtcDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mask_lifts",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("camera_id", sa.String(200), nullable=False),
        sa.Column("mask_label", sa.String(200), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("granted_at", UtcDateTime(), nullable=False),
        sa.Column("until", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mask_lifts"),
    )
    op.create_index("ix_mask_lifts_camera_until", "mask_lifts", ["camera_id", "until"])


def downgrade() -> None:
    op.drop_index("ix_mask_lifts_camera_until", table_name="mask_lifts")
    op.drop_table("mask_lifts")
