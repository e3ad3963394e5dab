"""Clery offense records imported from the records system, with offenses and arrests.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vmsbridge.store.tables import BigId, Json, UtcDateTime

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "clery_records",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("case_number", sa.String(64), nullable=False),
        sa.Column("reported_at", UtcDateTime(), nullable=False),
        sa.Column("occurred_from", UtcDateTime(), nullable=True),
        sa.Column("occurred_to", UtcDateTime(), nullable=True),
        sa.Column("location_id", sa.String(200), nullable=False),
        sa.Column("unfounded", sa.Boolean(), nullable=False),
        sa.Column("disposition", sa.Text(), nullable=False),
        sa.Column("offenses", Json, nullable=False),
        sa.Column("arrests", Json, nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_clery_records"),
        sa.UniqueConstraint("case_number", name="uq_clery_records_case_number"),
    )
    op.create_index("ix_clery_records_reported_at", "clery_records", ["reported_at"])
    op.create_table(
        "clery_persons",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("record_id", BigId, nullable=False),
        sa.Column("person_no", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"], ["clery_records.id"], name="fk_clery_persons_record_id_clery_records"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_clery_persons"),
        sa.UniqueConstraint("record_id", "person_no", name="uq_clery_persons_record_id"),
    )


def downgrade() -> None:
    op.drop_table("clery_persons")
    op.drop_index("ix_clery_records_reported_at", table_name="clery_records")
    op.drop_table("clery_records")
