"""Withheld crime-log fields: the legal reason, a note, who, until when to review, and the release.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vmsbridge.store.tables import BigId, UtcDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "crime_log_withholdings",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("entry_id", BigId, nullable=False),
        sa.Column("field", sa.String(40), nullable=False),
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("withheld_at", UtcDateTime(), nullable=False),
        sa.Column("review_by", UtcDateTime(), nullable=False),
        sa.Column("released_at", UtcDateTime(), nullable=True),
        sa.Column("released_by", sa.String(200), nullable=True),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["crime_log_entries.id"],
            name="fk_crime_log_withholdings_entry_id_crime_log_entries",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_crime_log_withholdings"),
    )


def downgrade() -> None:
    op.drop_table("crime_log_withholdings")
