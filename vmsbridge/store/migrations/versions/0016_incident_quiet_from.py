"""The event-clock time an incident's quiet is counted from (the clock when its last event was read).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vmsbridge.store.tables import UtcDateTime

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Empty for incidents from before: their quiet counts from their last event, as it did.
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("quiet_from", UtcDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("quiet_from")
