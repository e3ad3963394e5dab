"""Notifications, CAP messages, delivery outbox, emergency tests, people on incidents.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vmsbridge.store.tables import BigId, UtcDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "incident_people",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("incident_id", BigId, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name="fk_incident_people_incident_id_incidents"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_incident_people"),
    )
    op.create_index("ix_incident_people_incident", "incident_people", ["incident_id", "role"])
    op.create_table(
        "notifications",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("identifier", sa.String(200), nullable=False),
        sa.Column("incident_id", BigId, nullable=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("msg_type", sa.String(8), nullable=False),
        sa.Column("cap_status", sa.String(10), nullable=False),
        sa.Column("follows_id", BigId, nullable=True),
        sa.Column("location_id", sa.String(200), nullable=True),
        sa.Column("area_desc", sa.Text(), nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("response_type", sa.String(16), nullable=False),
        sa.Column("urgency", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("certainty", sa.String(16), nullable=False),
        sa.Column("headline", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("instruction", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("victim_names_checked", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("basis", sa.Text(), nullable=True),
        sa.Column("decided_at", UtcDateTime(), nullable=True),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("decline_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name="fk_notifications_incident_id_incidents"
        ),
        sa.ForeignKeyConstraint(
            ["follows_id"], ["notifications.id"], name="fk_notifications_follows_id_notifications"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
        sa.UniqueConstraint("identifier", name="uq_notifications_identifier"),
    )
    op.create_table(
        "cap_messages",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("notification_id", BigId, nullable=False),
        sa.Column("identifier", sa.String(200), nullable=False),
        sa.Column("sender", sa.String(200), nullable=False),
        sa.Column("sent", sa.String(32), nullable=False),
        sa.Column("sent_at", UtcDateTime(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("msg_type", sa.String(8), nullable=False),
        sa.Column("references", sa.Text(), nullable=True),
        sa.Column("xml", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["notification_id"], ["notifications.id"], name="fk_cap_messages_notification_id_notifications"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_cap_messages"),
        sa.UniqueConstraint("notification_id", name="uq_cap_messages_notification_id"),
        sa.UniqueConstraint("identifier", name="uq_cap_messages_identifier"),
    )
    op.create_table(
        "notification_deliveries",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("cap_message_id", BigId, nullable=False),
        sa.Column("sink", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UtcDateTime(), nullable=True),
        sa.Column("last_attempt_at", UtcDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", UtcDateTime(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cap_message_id"],
            ["cap_messages.id"],
            name="fk_notification_deliveries_cap_message_id_cap_messages",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_notification_deliveries"),
        sa.UniqueConstraint("cap_message_id", "sink", name="uq_notification_deliveries_cap_message_id"),
    )
    op.create_index("ix_notification_deliveries_due", "notification_deliveries", ["state", "next_attempt_at"])
    op.create_table(
        "emergency_tests",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("ended_at", UtcDateTime(), nullable=False),
        sa.Column("announced", sa.Boolean(), nullable=False),
        sa.Column("notification_id", BigId, nullable=True),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        sa.ForeignKeyConstraint(
            ["notification_id"], ["notifications.id"], name="fk_emergency_tests_notification_id_notifications"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_emergency_tests"),
    )


def downgrade() -> None:
    op.drop_table("emergency_tests")
    op.drop_index("ix_notification_deliveries_due", table_name="notification_deliveries")
    op.drop_table("notification_deliveries")
    op.drop_table("cap_messages")
    op.drop_table("notifications")
    op.drop_index("ix_incident_people_incident", table_name="incident_people")
    op.drop_table("incident_people")
