"""Evidence items keep what was recorded at acquisition; re-hashes of evidence are recorded.

Database triggers refuse any change to an ``evidence_items`` row except setting its disposal time
once, and refuse deleting rows. ``evidence_audits`` (append-only) records every store audit and
every export's re-hash, with what it found.

On SQLite, ``INSERT OR REPLACE`` (and ``REPLACE``) deletes a row whose key the new row takes
without firing delete triggers (unless the connection set ``recursive_triggers``), which would
rewrite a row of an append-only table. So on SQLite no insert may take an existing row's primary
or unique key in ``evidence_items``, ``evidence_audits``, ``custody_entries`` and ``audit_log``,
whatever the connection. (PostgreSQL has no REPLACE; ``ON CONFLICT DO UPDATE`` fires the update
triggers, which refuse it.)

SQLite drops a table's triggers when ``batch_alter_table`` recreates it: a later migration that
alters any of these tables in batch mode must create their triggers again.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vmsbridge.store.tables import BigId, Json, UtcDateTime

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FIXED_MESSAGE = "evidence_items keeps what was recorded at acquisition (only a disposal time may be added)"
_AUDITS_MESSAGE = "evidence_audits is append-only"
# Every column of evidence_items but disposed_at, which is set once, on disposal.
_FIXED_COLUMNS = (
    "id",
    "incident_id",
    "sha256",
    "sha512",
    "size",
    "media_type",
    "role",
    "derived_from",
    "file_name",
    "camera_id",
    "how",
    "acquired_at",
    "acquired_by",
    "window_start",
    "window_end",
)


# Each append-only table's keys (SQL conditions on NEW) and the message its triggers give.
_NO_REPLACE = {
    "evidence_items": ("NEW.incident_id = incident_id AND NEW.sha256 = sha256", _FIXED_MESSAGE),
    "evidence_audits": (None, _AUDITS_MESSAGE),
    "custody_entries": ("NEW.incident_id = incident_id AND NEW.seq = seq", "custody_entries is append-only"),
    "audit_log": (None, "audit_log is append-only"),
}


def _create_sqlite_no_replace_triggers() -> None:
    for table, (unique, message) in _NO_REPLACE.items():
        clash = "id = NEW.id" + (f" OR ({unique})" if unique else "")
        op.execute(
            f"CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table} "
            f"WHEN EXISTS (SELECT 1 FROM {table} WHERE {clash}) "
            f"BEGIN SELECT RAISE(ABORT, '{message} (an insert may not replace a row)'); END"
        )


def upgrade() -> None:
    op.create_table(
        "evidence_audits",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("incident_id", BigId, nullable=True),
        sa.Column("node", sa.String(200), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=False),
        sa.Column("items_checked", sa.Integer(), nullable=False),
        sa.Column("blobs_checked", sa.Integer(), nullable=False),
        sa.Column("bytes_hashed", sa.BigInteger(), nullable=False),
        sa.Column("items", Json, nullable=True),
        sa.Column("problems", Json, nullable=False),
        sa.Column("temporaries_removed", Json, nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name="fk_evidence_audits_incident_id_incidents"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_evidence_audits"),
    )
    op.create_index("ix_evidence_audits_incident_started", "evidence_audits", ["incident_id", "started_at"])
    if op.get_bind().dialect.name == "sqlite":
        changed = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in _FIXED_COLUMNS)
        op.execute(
            "CREATE TRIGGER evidence_items_acquisition_fixed BEFORE UPDATE ON evidence_items "
            f"WHEN {changed} OR OLD.disposed_at IS NOT NULL "
            f"BEGIN SELECT RAISE(ABORT, '{_FIXED_MESSAGE}'); END"
        )
        op.execute(
            "CREATE TRIGGER evidence_items_no_delete BEFORE DELETE ON evidence_items "
            f"BEGIN SELECT RAISE(ABORT, '{_FIXED_MESSAGE}'); END"
        )
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER evidence_audits_no_{verb.lower()} BEFORE {verb} ON evidence_audits "
                f"BEGIN SELECT RAISE(ABORT, '{_AUDITS_MESSAGE}'); END"
            )
        _create_sqlite_no_replace_triggers()
        return
    new = ", ".join(f"NEW.{c}" for c in _FIXED_COLUMNS)
    old = ", ".join(f"OLD.{c}" for c in _FIXED_COLUMNS)
    op.execute(
        "CREATE FUNCTION evidence_items_acquisition_fixed() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN "
        "IF TG_OP = 'UPDATE' THEN "
        f"IF OLD.disposed_at IS NULL AND ROW({new}) IS NOT DISTINCT FROM ROW({old}) THEN RETURN NEW; END IF; "
        "END IF; "
        f"RAISE EXCEPTION '{_FIXED_MESSAGE}'; "
        "END $$"
    )
    op.execute(
        "CREATE TRIGGER evidence_items_acquisition_fixed BEFORE UPDATE OR DELETE ON evidence_items "
        "FOR EACH ROW EXECUTE FUNCTION evidence_items_acquisition_fixed()"
    )
    op.execute(
        "CREATE TRIGGER evidence_items_no_truncate BEFORE TRUNCATE ON evidence_items "
        "FOR EACH STATEMENT EXECUTE FUNCTION evidence_items_acquisition_fixed()"
    )
    op.execute(
        "CREATE FUNCTION evidence_audits_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN RAISE EXCEPTION '{_AUDITS_MESSAGE}'; END $$"
    )
    op.execute(
        "CREATE TRIGGER evidence_audits_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON evidence_audits "
        "FOR EACH STATEMENT EXECUTE FUNCTION evidence_audits_append_only()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("evidence_items_acquisition_fixed", "evidence_items_no_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        for table in _NO_REPLACE:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_replace")
    else:
        op.execute("DROP TRIGGER IF EXISTS evidence_items_no_truncate ON evidence_items")
        op.execute("DROP TRIGGER IF EXISTS evidence_items_acquisition_fixed ON evidence_items")
        op.execute("DROP FUNCTION IF EXISTS evidence_items_acquisition_fixed()")
        op.execute("DROP TRIGGER IF EXISTS evidence_audits_append_only ON evidence_audits")
        op.execute("DROP FUNCTION IF EXISTS evidence_audits_append_only()")
    op.drop_index("ix_evidence_audits_incident_started", table_name="evidence_audits")
    op.drop_table("evidence_audits")
