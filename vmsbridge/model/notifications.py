"""Notification drafts and decisions, the CAP messages issued, their deliveries, emergency tests."""

from __future__ import annotations

__all__ = [
    "DELIVERY_STATES",
    "EDITABLE_TEXT",
    "CapMessage",
    "EmergencyTest",
    "NewCapMessage",
    "NewNotification",
    "Notification",
    "NotificationDelivery",
]

from dataclasses import dataclass
from datetime import datetime

DELIVERY_STATES = ("pending", "delivered", "failed")
EDITABLE_TEXT = ("headline", "description", "instruction")


@dataclass(frozen=True)
class NewNotification:
    identifier: str
    incident_id: int | None
    kind: str
    msg_type: str
    cap_status: str
    follows_id: int | None
    location_id: str | None
    area_desc: str
    category: str
    event: str
    response_type: str
    urgency: str
    severity: str
    certainty: str
    headline: str
    description: str
    instruction: str
    victim_names_checked: int


@dataclass(frozen=True)
class Notification(NewNotification):
    id: int
    status: str  # "draft" | "approved" | "declined"
    version: int
    created_at: datetime
    created_by: str
    basis: str | None
    decided_at: datetime | None
    decided_by: str | None
    decline_reason: str | None


@dataclass(frozen=True)
class NewCapMessage:
    identifier: str
    sender: str
    sent: str
    sent_at: datetime
    status: str
    msg_type: str
    references: str | None
    xml: bytes


@dataclass(frozen=True)
class CapMessage:
    id: int
    notification_id: int
    identifier: str
    sender: str
    sent: str
    sent_at: datetime
    status: str
    msg_type: str
    references: str | None
    xml: bytes
    sha256: str


@dataclass(frozen=True)
class NotificationDelivery:
    id: int
    cap_message_id: int
    sink: str
    state: str
    attempts: int
    max_attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_error: str | None
    delivered_at: datetime | None
    detail: str | None


@dataclass(frozen=True)
class EmergencyTest:
    id: int
    description: str
    started_at: datetime
    ended_at: datetime
    announced: bool
    notification_id: int | None
    recorded_at: datetime
    recorded_by: str
