"""Table definitions (SQLAlchemy 2 declarative, typed). Migrations in ``migrations/`` mirror these."""

from __future__ import annotations

__all__ = [
    "AuditRow",
    "Base",
    "BridgeRunRow",
    "CleryPersonRow",
    "CleryRecordRow",
    "CrimeLogChangeRow",
    "CrimeLogEntryRow",
    "CrimeLogWithholdingRow",
    "CustodyEntryRow",
    "EventRow",
    "EvidenceAuditRow",
    "EvidenceItemRow",
    "FireLogChangeRow",
    "FireLogEntryRow",
    "IncidentActionRow",
    "IncidentEventRow",
    "IncidentRow",
    "MaskLiftRow",
    "PublicLogChangeColumns",
    "PublicLogEntryColumns",
    "RejectedEventRow",
    "RuleFailureRow",
    "RuleFiringRow",
    "SourceMemoryRow",
    "StageCursorRow",
]

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

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
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column
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
        Index("ix_events_kind_occurred", "kind", "occurred_at"),  # camera-health reports (0012)
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
    # The correlator's event clock when the incident's last event was read: its quiet counts from
    # here (or from last_event_at, if empty), so history read behind newer events is not quiet at once.
    quiet_from: Mapped[datetime | None] = mapped_column(UtcDateTime())
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
    """A file attached to an incident; its bytes live in the content-addressed store.

    What was recorded at acquisition is fixed: database triggers refuse any change but setting
    ``disposed_at`` once, and refuse deletion.
    """

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


class EvidenceAuditRow(Base):
    """One re-hash of evidence (a store audit or an export's check) and what it found. Append-only."""

    __tablename__ = "evidence_audits"
    __table_args__ = (Index("ix_evidence_audits_incident_started", "incident_id", "started_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # "audit" | "export"
    incident_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("incidents.id"))  # None: whole store
    node: Mapped[str] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[UtcTs]
    finished_at: Mapped[UtcTs]
    items_checked: Mapped[int] = mapped_column(Integer)
    blobs_checked: Mapped[int] = mapped_column(Integer)
    bytes_hashed: Mapped[int] = mapped_column(BigInteger)
    items: Mapped[list[str] | None] = mapped_column(Json)  # SHA-256s checked; None: every live item
    problems: Mapped[list[dict[str, Any]]] = mapped_column(Json)
    temporaries_removed: Mapped[list[dict[str, Any]]] = mapped_column(Json)


class PublicLogEntryColumns:
    """Columns every public Clery log entry has (crime log, fire log): a draft until published."""

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("incidents.id"))
    status: Mapped[str] = mapped_column(String(16))
    nature: Mapped[str] = mapped_column(Text)
    reported_at: Mapped[UtcTs]
    occurred_from: Mapped[datetime | None] = mapped_column(UtcDateTime())
    occurred_to: Mapped[datetime | None] = mapped_column(UtcDateTime())
    location_id: Mapped[Ident]
    general_location: Mapped[str] = mapped_column(Text)
    created_at: Mapped[UtcTs]
    created_by: Mapped[str] = mapped_column(String(200))
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class PublicLogChangeColumns:
    """The entry itself or one field change, with when the information came in and its deadline.

    ``due_by`` is empty when the law sets no deadline (an update to an entry older than 60 days).
    """

    entries_table: ClassVar[str]

    if TYPE_CHECKING:
        # The declarative base supplies the keyword constructor at run time; this tells mypy so
        # that code generic over both logs can build change rows.
        def __init__(self, **columns: Any) -> None: ...

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    field: Mapped[str] = mapped_column(String(40))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    info_received_at: Mapped[UtcTs]
    due_by: Mapped[datetime | None] = mapped_column(UtcDateTime())
    changed_at: Mapped[UtcTs]
    actor: Mapped[str] = mapped_column(String(200))
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    @declared_attr
    def entry_id(cls) -> Mapped[int]:
        return mapped_column(BigId, ForeignKey(f"{cls.entries_table}.id"))


class CrimeLogEntryRow(PublicLogEntryColumns, Base):
    """A daily-crime-log entry: a draft until an actor publishes it."""

    __tablename__ = "crime_log_entries"

    disposition: Mapped[str] = mapped_column(Text)


class CrimeLogChangeRow(PublicLogChangeColumns, Base):
    __tablename__ = "crime_log_changes"
    __table_args__ = (Index("ix_crime_log_changes_pending", "published_at", "due_by"),)
    entries_table = "crime_log_entries"


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


class IncidentPersonRow(Base):
    """A person recorded on an incident. Restricted: names never appear in public outputs."""

    __tablename__ = "incident_people"
    __table_args__ = (Index("ix_incident_people_incident", "incident_id", "role"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(BigId, ForeignKey("incidents.id"))
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[UtcTs]
    recorded_by: Mapped[str] = mapped_column(String(200))


class NotificationRow(Base):
    """A timely warning, emergency notification, test or all-clear: a draft until decided."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    identifier: Mapped[str] = mapped_column(String(200), unique=True)
    incident_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("incidents.id"))
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(16))
    msg_type: Mapped[str] = mapped_column(String(8))
    cap_status: Mapped[str] = mapped_column(String(10))
    follows_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("notifications.id"))
    location_id: Mapped[str | None] = mapped_column(String(200))
    area_desc: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(16))
    event: Mapped[str] = mapped_column(Text)
    response_type: Mapped[str] = mapped_column(String(16))
    urgency: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    certainty: Mapped[str] = mapped_column(String(16))
    headline: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    instruction: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer)
    victim_names_checked: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[UtcTs]
    created_by: Mapped[str] = mapped_column(String(200))
    basis: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decline_reason: Mapped[str | None] = mapped_column(Text)


class CapMessageRow(Base):
    """The CAP 1.2 XML an approval issued, byte for byte, with its digest."""

    __tablename__ = "cap_messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    notification_id: Mapped[int] = mapped_column(BigId, ForeignKey("notifications.id"), unique=True)
    identifier: Mapped[str] = mapped_column(String(200), unique=True)
    sender: Mapped[str] = mapped_column(String(200))
    sent: Mapped[str] = mapped_column(String(32))  # exactly as in the XML, with its offset
    sent_at: Mapped[UtcTs]
    status: Mapped[str] = mapped_column(String(10))
    msg_type: Mapped[str] = mapped_column(String(8))
    references: Mapped[str | None] = mapped_column(Text)
    xml: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))


class NotificationDeliveryRow(Base):
    """One CAP message to one sink (the outbox): pending until delivered, failed after max attempts."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        UniqueConstraint("cap_message_id", "sink", name="uq_notification_deliveries_cap_message_id"),
        Index("ix_notification_deliveries_due", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    cap_message_id: Mapped[int] = mapped_column(BigId, ForeignKey("cap_messages.id"))
    sink: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    max_attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[UtcTs]


class EmergencyTestRow(Base):
    """A test of the emergency response and evacuation procedures (at least one per year)."""

    __tablename__ = "emergency_tests"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    description: Mapped[str] = mapped_column(Text)
    started_at: Mapped[UtcTs]
    ended_at: Mapped[UtcTs]
    announced: Mapped[bool] = mapped_column(Boolean)
    notification_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("notifications.id"))
    recorded_at: Mapped[UtcTs]
    recorded_by: Mapped[str] = mapped_column(String(200))


class FireLogEntryRow(PublicLogEntryColumns, Base):
    """A fire in a student-housing facility: the public log's fields and the fire-safety statistics.

    cause, injuries, deaths and damage_usd feed the annual fire statistics and never the public log.
    """

    __tablename__ = "fire_log_entries"

    cause: Mapped[str | None] = mapped_column(Text)
    injuries: Mapped[int] = mapped_column(Integer)  # needing treatment at a medical facility
    deaths: Mapped[int] = mapped_column(Integer)
    damage_usd: Mapped[int] = mapped_column(BigInteger)  # whole dollars


class FireLogChangeRow(PublicLogChangeColumns, Base):
    __tablename__ = "fire_log_changes"
    __table_args__ = (Index("ix_fire_log_changes_pending", "published_at", "due_by"),)
    entries_table = "fire_log_entries"


class IncidentActionRow(Base):
    """What a rule's action did for an incident: ok or failed with the reason, and how long it took.

    ``incident_id`` is empty when the rule fired but no incident came of it (e.g. a rule that only
    notifies an operator about an event nobody correlated).
    """

    __tablename__ = "incident_actions"
    __table_args__ = (Index("ix_incident_actions_incident", "incident_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("incidents.id"))
    event_id: Mapped[int] = mapped_column(BigId, ForeignKey("events.id"))
    rule: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(40))
    ok: Mapped[bool] = mapped_column(Boolean)
    ms: Mapped[int] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(Text)
    started_at: Mapped[UtcTs]


class RuleFiringRow(Base):
    """A rule fired on an event: written before the firing's actions start, so that an event read
    again after a crash (the engine's saved position lags) never moves a camera or raises an
    alarm a second time."""

    __tablename__ = "rule_firings"
    __table_args__ = (Index("ix_rule_firings_fired_at", "fired_at"),)

    rule: Mapped[str] = mapped_column(String(80), primary_key=True)
    event_id: Mapped[int] = mapped_column(BigId, ForeignKey("events.id"), primary_key=True)
    fired_at: Mapped[UtcTs]


class RuleFailureRow(Base):
    """An event a rule could not handle (the error is tied to the event: a condition that raises on
    it, an attribute it lacks), set aside after a few attempts so the engine goes on with the next
    events. Kept for operators (the command line lists them), and so a restart does not try it again."""

    __tablename__ = "rule_failures"
    __table_args__ = (Index("ix_rule_failures_failed_at", "failed_at"),)

    rule: Mapped[str] = mapped_column(String(80), primary_key=True)
    event_id: Mapped[int] = mapped_column(BigId, ForeignKey("events.id"), primary_key=True)
    error: Mapped[str] = mapped_column(String(120))
    message: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    failed_at: Mapped[UtcTs]


class CleryRecordRow(Base):
    """A Clery offense record from the records system; one row per case number (re-import updates it).

    Offenses and arrests are JSON lists; an arrest names its person only by number ("person": 1),
    the names themselves are in the restricted ``clery_persons`` table.
    """

    __tablename__ = "clery_records"
    __table_args__ = (
        UniqueConstraint("case_number", name="uq_clery_records_case_number"),
        Index("ix_clery_records_reported_at", "reported_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_number: Mapped[str] = mapped_column(String(64))
    reported_at: Mapped[UtcTs]
    occurred_from: Mapped[datetime | None] = mapped_column(UtcDateTime())
    occurred_to: Mapped[datetime | None] = mapped_column(UtcDateTime())
    location_id: Mapped[Ident]
    unfounded: Mapped[bool] = mapped_column(Boolean)
    disposition: Mapped[str] = mapped_column(Text)
    offenses: Mapped[list[dict[str, Any]]] = mapped_column(Json)
    arrests: Mapped[list[dict[str, Any]]] = mapped_column(Json)
    source: Mapped[str] = mapped_column(Text)
    created_at: Mapped[UtcTs]
    created_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[UtcTs]
    updated_by: Mapped[str] = mapped_column(String(200))


class CleryPersonRow(Base):
    """Restricted personal data: the name behind "person #n" of a Clery record's arrests."""

    __tablename__ = "clery_persons"
    __table_args__ = (UniqueConstraint("record_id", "person_no", name="uq_clery_persons_record_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    record_id: Mapped[int] = mapped_column(BigId, ForeignKey("clery_records.id"))
    person_no: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(Text)


class BridgeRunRow(Base):
    """One run session of the bridge: time outside every session is "unknown" in camera health."""

    __tablename__ = "bridge_runs"
    __table_args__ = (Index("ix_bridge_runs_started_at", "started_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    started_at: Mapped[UtcTs]
    heartbeat_at: Mapped[UtcTs]  # the last proof of life; where an unclean run is taken to have ended
    stopped_at: Mapped[datetime | None] = mapped_column(UtcDateTime())  # set by a clean stop
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    heartbeat_seconds: Mapped[int] = mapped_column(Integer)  # lets readers tell a live run from a dead one


class SourceMemoryRow(Base):
    """A small JSON value an event source keeps across restarts of the bridge (e.g. where to
    resume a VMS's event session), by source name and key."""

    __tablename__ = "source_memory"

    source: Mapped[str] = mapped_column(String(200), primary_key=True)
    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    value: Mapped[dict[str, Any]]
    updated_at: Mapped[UtcTs]
