"""Table definitions (SQLAlchemy 2 declarative, typed). Migrations in ``migrations/`` mirror these."""

from __future__ import annotations

__all__ = [
    "AuditRow",
    "Base",
    "CrimeLogChangeRow",
    "CrimeLogEntryRow",
    "CrimeLogWithholdingRow",
    "CustodyEntryRow",
    "EventRow",
    "EvidenceItemRow",
    "IncidentEventRow",
    "IncidentRow",
    "MaskLiftRow",
    "RejectedEventRow",
    "StageCursorRow",
]

from datetime import UTC, datetime
from typing import Annotated, Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on both backends (SQLite keeps no zone, so it is stored as naive UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; every time in vmsbridge is timezone-aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# BIGINT ids on PostgreSQL; SQLite only makes INTEGER PRIMARY KEY an alias of its rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")
Json = JSON().with_variant(JSONB(), "postgresql")

UtcTs = Annotated[datetime, mapped_column(UtcDateTime())]
Ident = Annotated[str, mapped_column(String(200))]

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: Json}  # noqa: RUF012 - SQLAlchemy reads this class attribute


class EventRow(Base):
    """A normalized event; immutable once written. ``(source, native_id)`` makes replays harmless."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("source", "native_id", name="uq_events_source_native_id"),
        Index("ix_events_location_occurred", "location_id", "occurred_at"),
        Index("ix_events_device_occurred", "device_id", "occurred_at"),
        Index("ix_events_txid_id", "txid", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[Ident]
    native_id: Mapped[Ident]
    kind: Mapped[str] = mapped_column(String(40))
    device_id: Mapped[Ident]
    location_id: Mapped[Ident]
    occurred_at: Mapped[UtcTs]
    received_at: Mapped[UtcTs]
    stored_at: Mapped[UtcTs]
    attributes: Mapped[dict[str, Any]]
    raw: Mapped[str | None] = mapped_column(Text)
    # The inserting transaction (PostgreSQL; 0 on SQLite): lets log readers follow commit order.
    # The real default is set per backend by migration 0002.
    txid: Mapped[int] = mapped_column(BigId, server_default=text("0"))


class RejectedEventRow(Base):
    """Input the ingest stage refused, kept verbatim so nothing is lost and the reason can be read."""

    __tablename__ = "rejected_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    rejected_at: Mapped[UtcTs]
    source: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)


class IncidentRow(Base):
    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_status_location", "status", "location_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    location_id: Mapped[Ident]
    status: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(Text)
    started_at: Mapped[UtcTs]
    last_event_at: Mapped[UtcTs]
    created_at: Mapped[UtcTs]
    opened_by: Mapped[str] = mapped_column(String(200))
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    close_reason: Mapped[str | None] = mapped_column(Text)
    victim_sensitive: Mapped[bool] = mapped_column(Boolean, server_default=false())
    legal_hold: Mapped[bool] = mapped_column(Boolean, server_default=false())


class IncidentEventRow(Base):
    """Links events to incidents; an event belongs to at most one incident."""

    __tablename__ = "incident_events"

    incident_id: Mapped[int] = mapped_column(BigId, ForeignKey("incidents.id"), primary_key=True)
    event_id: Mapped[int] = mapped_column(BigId, ForeignKey("events.id"), primary_key=True, unique=True)
    linked_at: Mapped[UtcTs]


class AuditRow(Base):
    """Who did what, when. Append-only: database triggers refuse UPDATE and DELETE."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_subject", "subject_type", "subject_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[UtcTs]
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(80))
    subject_type: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[str] = mapped_column(String(200))
    details: Mapped[dict[str, Any]]


class StageCursorRow(Base):
    """How far a log-consuming stage (e.g. the correlator) has read the events table, by event id."""

    __tablename__ = "stage_cursors"

    stage: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_event_id: Mapped[int] = mapped_column(BigId)
    last_txid: Mapped[int] = mapped_column(BigId, server_default=text("0"))
    updated_at: Mapped[UtcTs]


class MaskLiftRow(Base):
    """A granted lift of a liftable privacy mask; rows are only ever added (and audited)."""

    __tablename__ = "mask_lifts"
    __table_args__ = (Index("ix_mask_lifts_camera_until", "camera_id", "until"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    camera_id: Mapped[Ident]
    mask_label: Mapped[Ident]
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    granted_at: Mapped[UtcTs]
    until: Mapped[UtcTs]


class EvidenceItemRow(Base):
    """A file attached to an incident; its bytes live in the content-addressed store."""

    __tablename__ = "evidence_items"
    __table_args__ = (UniqueConstraint("incident_id", "sha256", name="uq_evidence_items_incident_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(BigId, ForeignKey("incidents.id"))
    sha256: Mapped[str] = mapped_column(String(64))
    sha512: Mapped[str] = mapped_column(String(128))
    size: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    derived_from: Mapped[str | None] = mapped_column(String(64))
    file_name: Mapped[str] = mapped_column(String(300))
    camera_id: Mapped[str | None] = mapped_column(String(200))
    how: Mapped[str] = mapped_column(Text)
    acquired_at: Mapped[UtcTs]
    acquired_by: Mapped[str] = mapped_column(String(200))
    disposed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    window_start: Mapped[datetime | None] = mapped_column(UtcDateTime())
    window_end: Mapped[datetime | None] = mapped_column(UtcDateTime())


class CustodyEntryRow(Base):
    """One link of an incident's custody chain. Append-only: database triggers refuse changes."""

    __tablename__ = "custody_entries"
    __table_args__ = (UniqueConstraint("incident_id", "seq", name="uq_custody_entries_incident_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(BigId, ForeignKey("incidents.id"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[UtcTs]
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(20))
    item: Mapped[str | None] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class CrimeLogEntryRow(Base):
    """A daily-crime-log entry: a draft until an actor publishes it."""

    __tablename__ = "crime_log_entries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("incidents.id"))
    status: Mapped[str] = mapped_column(String(16))
    nature: Mapped[str] = mapped_column(Text)
    reported_at: Mapped[UtcTs]
    occurred_from: Mapped[datetime | None] = mapped_column(UtcDateTime())
    occurred_to: Mapped[datetime | None] = mapped_column(UtcDateTime())
    location_id: Mapped[Ident]
    general_location: Mapped[str] = mapped_column(Text)
    disposition: Mapped[str] = mapped_column(Text)
    created_at: Mapped[UtcTs]
    created_by: Mapped[str] = mapped_column(String(200))
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class CrimeLogChangeRow(Base):
    """The entry itself or one field change, with when the information came in and its deadline."""

    __tablename__ = "crime_log_changes"
    __table_args__ = (Index("ix_crime_log_changes_pending", "published_at", "due_by"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entry_id: Mapped[int] = mapped_column(BigId, ForeignKey("crime_log_entries.id"))
    field: Mapped[str] = mapped_column(String(40))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    info_received_at: Mapped[UtcTs]
    due_by: Mapped[UtcTs]
    changed_at: Mapped[UtcTs]
    actor: Mapped[str] = mapped_column(String(200))
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class CrimeLogWithholdingRow(Base):
    """A crime-log field kept from the public for a legal reason, until released."""

    __tablename__ = "crime_log_withholdings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entry_id: Mapped[int] = mapped_column(BigId, ForeignKey("crime_log_entries.id"))
    field: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(String(40))
    note: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(200))
    withheld_at: Mapped[UtcTs]
    review_by: Mapped[UtcTs]
    released_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    released_by: Mapped[str | None] = mapped_column(String(200))
