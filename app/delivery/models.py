"""The send ledger: one run per issue, one delivery row per frozen recipient.

Sending is a state machine stored in the database, so a crash loses nothing:

    queued -> claimed -> sending -> sent | failed | unknown      (or excluded)

`claimed` rows hold a lease; `sending` marks the window between handing a message to the
server and recording its reply. A crashed worker's `claimed` rows go back to the queue (the
message was certainly not sent); its `sending` rows become `unknown` (it may have been).
"""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import JsonType, utcnow


class RunState(StrEnum):
    freezing = "freezing"
    running = "running"
    paused = "paused"
    cancelled = "cancelled"
    done = "done"


class DeliveryState(StrEnum):
    queued = "queued"
    claimed = "claimed"
    sending = "sending"
    sent = "sent"
    failed = "failed"
    unknown = "unknown"
    excluded = "excluded"


FINAL_STATES = (
    DeliveryState.sent,
    DeliveryState.failed,
    DeliveryState.unknown,
    DeliveryState.excluded,
)


class SendRun(SQLModel, table=True):
    __tablename__ = "send_run"

    id: int | None = Field(default=None, primary_key=True)
    issue_id: int = Field(foreign_key="issue.id", unique=True, ondelete="CASCADE")
    state: str = Field(default=RunState.freezing, max_length=20)
    audience_size: int = 0
    started_by: str = Field(default="", max_length=320)
    paused_reason: str = Field(default="", max_length=500)
    created_at: datetime = Field(default_factory=utcnow)
    frozen_at: datetime | None = None
    finished_at: datetime | None = None


class Delivery(SQLModel, table=True):
    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("issue_id", "email"),
        # Claims read the due rows in this order, so LIMIT stops early instead of sorting
        # every queued row of a large send for each batch.
        Index("ix_delivery_due", "issue_id", "state", "next_attempt_at", "id"),
        # The error-rate check reads the most recently settled rows of an issue.
        Index("ix_delivery_issue_id_updated_at", "issue_id", "updated_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    issue_id: int = Field(foreign_key="issue.id", ondelete="CASCADE")
    # Indexed: deleting a subscriber sets this to null, which would otherwise read every row.
    subscriber_id: int | None = Field(
        default=None, foreign_key="subscriber.id", ondelete="SET NULL", index=True
    )
    # Frozen at the audience freeze: later edits to the subscriber do not move the send.
    email: str = Field(max_length=320)
    name: str = Field(default="", max_length=200)
    variant: list[int] = Field(default_factory=list, sa_column=Column(JsonType, nullable=False))
    state: str = Field(default=DeliveryState.queued, max_length=20)
    attempts: int = 0
    lease_owner: str = Field(default="", max_length=100)
    lease_expires_at: datetime | None = None
    next_attempt_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None
    last_code: int | None = None
    last_error: str = Field(default="", max_length=1000)
    updated_at: datetime = Field(default_factory=utcnow)


class DeliveryProgress(SQLModel):
    issue_id: int
    run_state: str
    audience_size: int
    counts: dict[str, int]
    done: int = Field(description="sent + failed + unknown + excluded")
    rate_per_minute: float = Field(description="Messages sent in the last minute")
    eta_seconds: float | None = Field(description="At the current rate; null when idle")
    paused_reason: str
