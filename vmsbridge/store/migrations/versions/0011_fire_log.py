"""Fire log for student-housing locations, with its change history.

Also lets a crime-log change have no due-by time: an update to an entry more than 60 days old is
still recorded, but the law sets it no deadline.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vmsbridge.store.tables import BigId, UtcDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("crime_log_changes") as batch:
        batch.alter_column("due_by", existing_type=UtcDateTime(), nullable=True)
    op.create_table(
        "fire_log_entries",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("incident_id", BigId, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("nature", sa.Text(), nullable=False),
        sa.Column("reported_at", UtcDateTime(), nullable=False),
        sa.Column("occurred_from", UtcDateTime(), nullable=True),
        sa.Column("occurred_to", UtcDateTime(), nullable=True),
        sa.Column("location_id", sa.String(200), nullable=False),
        sa.Column("general_location", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("published_at", UtcDateTime(), nullable=True),
        sa.Column("cause", sa.Text(), nullable=True),
        sa.Column("injuries", sa.Integer(), nullable=False),
        sa.Column("deaths", sa.Integer(), nullable=False),
        sa.Column("damage_usd", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name="fk_fire_log_entries_incident_id_incidents"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_fire_log_entries"),
    )
    op.create_table(
        "fire_log_changes",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("entry_id", BigId, nullable=False),
        sa.Column("field", sa.String(40), nullable=False),
        sa.Column("old_value", sa.Text(), nullable=True),
        sa.Column("new_value", sa.Text(), nullable=True),
        sa.Column("info_received_at", UtcDateTime(), nullable=False),
        sa.Column("due_by", UtcDateTime(), nullable=True),
        sa.Column("changed_at", UtcDateTime(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("published_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["fire_log_entries.id"], name="fk_fire_log_changes_entry_id_fire_log_entries"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_fire_log_changes"),
    )
    op.create_index("ix_fire_log_changes_pending", "fire_log_changes", ["published_at", "due_by"])


def downgrade() -> None:
    # A change recorded without a deadline cannot go back to a NOT NULL column: refuse before
    # touching anything rather than invent a deadline the law did not set.
    undated = (
        op.get_bind().execute(sa.text("SELECT count(*) FROM crime_log_changes WHERE due_by IS NULL")).scalar()
    )
    if undated:
        raise RuntimeError(
            f"{undated} crime-log change(s) have no due-by time (entries older than 60 days); "
            "downgrading below 0011 would lose that fact"
        )
    op.drop_index("ix_fire_log_changes_pending", table_name="fire_log_changes")
    op.drop_table("fire_log_changes")
    op.drop_table("fire_log_entries")
    with op.batch_alter_table("crime_log_changes") as batch:
        batch.alter_column("due_by", existing_type=UtcDateTime(), nullable=False)
