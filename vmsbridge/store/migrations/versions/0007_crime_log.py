"""Daily crime log: entries (drafts until published) and every change with its deadline.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vmsbridge.store.tables import BigId, UtcDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "crime_log_entries",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("incident_id", BigId, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("nature", sa.Text(), nullable=False),
        sa.Column("reported_at", UtcDateTime(), nullable=False),
        sa.Column("occurred_from", UtcDateTime(), nullable=True),
        sa.Column("occurred_to", UtcDateTime(), nullable=True),
        sa.Column("location_id", sa.String(200), nullable=False),
        sa.Column("general_location", sa.Text(), nullable=False),
        sa.Column("disposition", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("published_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name="fk_crime_log_entries_incident_id_incidents"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_crime_log_entries"),
    )
    op.create_table(
        "crime_log_changes",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("entry_id", BigId, nullable=False),
        sa.Column("field", sa.String(40), nullable=False),
        sa.Column("old_value", sa.Text(), nullable=True),
        sa.Column("new_value", sa.Text(), nullable=True),
        sa.Column("info_received_at", UtcDateTime(), nullable=False),
        sa.Column("due_by", UtcDateTime(), nullable=False),
        sa.Column("changed_at", UtcDateTime(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("published_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["crime_log_entries.id"], name="fk_crime_log_changes_entry_id_crime_log_entries"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_crime_log_changes"),
    )
    op.create_index("ix_crime_log_changes_pending", "crime_log_changes", ["published_at", "due_by"])


def downgrade() -> None:
    op.drop_index("ix_crime_log_changes_pending", table_name="crime_log_changes")
    op.drop_table("crime_log_changes")
    op.drop_table("crime_log_entries")
