"""Engagement records. In the default privacy mode nothing here names a person."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import JsonType, utcnow


class ExcerptFeedback(SQLModel, table=True):
    """One "was this useful?" answer: to which excerpt, not from whom."""

    __tablename__ = "excerpt_feedback"

    id: int | None = Field(default=None, primary_key=True)
    issue_id: int = Field(foreign_key="issue.id", index=True, ondelete="CASCADE")
    excerpt_id: int = Field(foreign_key="excerpt.id", index=True, ondelete="CASCADE")
    useful: bool
    comment: str = Field(default="", max_length=2000)
    created_at: datetime = Field(default_factory=utcnow)
    # From the optional follow-up form after the vote: 1 (poor) to 5 (very good).
    relevance: int | None = None
    clarity: int | None = None
    updated_at: datetime | None = None


class PrivacyMode(StrEnum):
    aggregate = "aggregate"  # counted per issue, segment and excerpt; no person in the rows
    individual = "individual"  # per subscriber, only with a recorded legal basis
    off = "off"  # no pixel, no click redirects, nothing recorded


class EventKind(StrEnum):
    open = "open"
    click = "click"
    unsubscribe = "unsubscribe"


class TrackedLink(SQLModel, table=True):
    """A URL an issue's email links to, registered when the issue is rendered: the click
    redirect goes only to these, so it can never be an open redirect."""

    __tablename__ = "tracked_link"
    __table_args__ = (UniqueConstraint("issue_id", "digest"),)

    id: int | None = Field(default=None, primary_key=True)
    issue_id: int = Field(foreign_key="issue.id", ondelete="CASCADE")
    # Null for links in the issue's introduction.
    excerpt_id: int | None = Field(
        default=None, foreign_key="excerpt.id", ondelete="SET NULL", index=True
    )
    url: str = Field(sa_type=Text)
    # The link text (or "call to action"), for reports; not used to redirect.
    label: str = Field(default="", max_length=200)
    # Order of first appearance in the rendered email, from 0.
    position: int = 0
    # sha256 hex of "{excerpt_id or ''}|{url}": the natural key, so every process rendering
    # the same issue finds the same row.
    digest: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class EngagementEvent(SQLModel, table=True):
    """One open, click or unsubscribe as it happened. Never an address, user agent or IP."""

    __tablename__ = "engagement_event"
    __table_args__ = (
        # Reports count each reader once per issue and variant (and per excerpt for clicks):
        # in these orders a reader's events are adjacent, so the counts stream through an
        # index instead of sorting every event (app/analytics/tallies.py, reader_cells).
        Index(
            "ix_engagement_event_reader_cells",
            "issue_id",
            "variant",
            "reader",
            "subscriber_id",
            "kind",
            "machine",
        ),
        Index(
            "ix_engagement_event_excerpt_cells",
            "issue_id",
            "kind",
            "variant",
            "excerpt_id",
            "reader",
            "subscriber_id",
            "machine",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    # Not indexed on its own: both covering indexes above begin with issue_id.
    issue_id: int = Field(foreign_key="issue.id", ondelete="CASCADE")
    kind: str = Field(max_length=20)
    link_id: int | None = Field(default=None, foreign_key="tracked_link.id", ondelete="CASCADE")
    excerpt_id: int | None = Field(default=None, foreign_key="excerpt.id", ondelete="SET NULL")
    # The recipient's target segment ids, sorted, as in Delivery.variant.
    variant: list[int] = Field(default_factory=list, sa_column=Column(JsonType, nullable=False))
    # Aggregate mode: HMAC-SHA256 of the subscriber id under the issue's TrackingSalt,
    # truncated to 16 hex digits; only for counting unique readers. Null in individual mode.
    reader: str | None = Field(default=None, max_length=16)
    # Individual mode only; null in aggregate mode. Indexed for deleting a subscriber.
    subscriber_id: int | None = Field(
        default=None, foreign_key="subscriber.id", ondelete="SET NULL", index=True
    )
    machine: bool = False
    machine_reason: str = Field(default="", max_length=40)
    occurred_at: datetime = Field(default_factory=utcnow, index=True)


class TrackingSalt(SQLModel, table=True):
    """The per-issue key of reader pseudonyms; once deleted they are unlinkable for good."""

    __tablename__ = "tracking_salt"

    issue_id: int = Field(foreign_key="issue.id", ondelete="CASCADE", primary_key=True)
    salt: str = Field(max_length=64)  # 32 random bytes, hex
    created_at: datetime = Field(default_factory=utcnow)


class PrivacySetting(SQLModel, table=True):
    """The installation's privacy mode: one row (id 1); no row means aggregate."""

    __tablename__ = "privacy_setting"

    id: int | None = Field(default=None, primary_key=True)
    mode: str = Field(default=PrivacyMode.aggregate, max_length=20)
    legal_basis: str = Field(default="", sa_type=Text)
    changed_by: str = Field(default="", max_length=320)
    changed_at: datetime | None = None
