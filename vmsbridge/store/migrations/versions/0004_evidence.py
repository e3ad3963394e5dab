"""Evidence items of incidents and their hash-chained custody log (append-only).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vmsbridge.store.tables import BigId, Json, UtcDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MESSAGE = "custody_entries is append-only"


def upgrade() -> None:
    op.create_table(
        "evidence_items",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("incident_id", BigId, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("sha512", sa.String(128), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("media_type", sa.String(100), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("derived_from", sa.String(64), nullable=True),
        sa.Column("file_name", sa.String(300), nullable=False),
        sa.Column("camera_id", sa.String(200), nullable=True),
        sa.Column("how", sa.Text(), nullable=False),
        sa.Column("acquired_at", UtcDateTime(), nullable=False),
        sa.Column("acquired_by", sa.String(200), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name="fk_evidence_items_incident_id_incidents"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_evidence_items"),
        sa.UniqueConstraint("incident_id", "sha256", name="uq_evidence_items_incident_id"),
    )
    op.create_table(
        "custody_entries",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("incident_id", BigId, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("item", sa.String(64), nullable=True),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("details", Json, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name="fk_custody_entries_incident_id_incidents"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_custody_entries"),
        sa.UniqueConstraint("incident_id", "seq", name="uq_custody_entries_incident_id"),
    )
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER custody_entries_no_{verb.lower()} BEFORE {verb} ON custody_entries "
                f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END"
            )
    else:
        op.execute(
            "CREATE FUNCTION custody_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '{_MESSAGE}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER custody_entries_append_only "
            "BEFORE UPDATE OR DELETE OR TRUNCATE ON custody_entries "
            "FOR EACH STATEMENT EXECUTE FUNCTION custody_entries_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP TRIGGER IF EXISTS custody_entries_append_only ON custody_entries")
        op.execute("DROP FUNCTION IF EXISTS custody_entries_append_only()")
    op.drop_table("custody_entries")
    op.drop_table("evidence_items")
