"""Segments (target groups): a rule over subscriber attributes and status, or a static list."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from app.db import JsonType, utcnow
from app.segments.rules import Rule


class SegmentKind(StrEnum):
    rule = "rule"
    static = "static"


class Segment(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120, unique=True)
    description: str = Field(default="", max_length=1000)
    kind: str = Field(default=SegmentKind.rule, max_length=10)
    # The rule as the client sent it (validated); compiled to SQL on every use.
    rule: dict[str, Any] | None = Field(default=None, sa_column=Column(JsonType, nullable=True))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class SegmentMember(SQLModel, table=True):
    """Membership of a static segment."""

    __tablename__ = "segment_member"

    segment_id: int = Field(foreign_key="segment.id", primary_key=True, ondelete="CASCADE")
    subscriber_id: int = Field(
        foreign_key="subscriber.id", primary_key=True, index=True, ondelete="CASCADE"
    )
    added_at: datetime = Field(default_factory=utcnow)


class SegmentCreate(SQLModel):
    name: str = Field(min_length=1, max_length=120)
    description: str = Field(default="", max_length=1000)
    kind: SegmentKind = SegmentKind.rule
    rule: Rule | None = None


class SegmentUpdate(SQLModel):
    name: str | None = Field(default=None, min_length=1, max_length=120)
    description: str | None = Field(default=None, max_length=1000)
    rule: Rule | None = None


class SegmentPublic(SQLModel):
    id: int
    name: str
    description: str
    kind: str
    rule: dict[str, Any] | None
    member_count: int = Field(description="Subscribers the segment selects, any status.")
    active_count: int = Field(description="Of those, the active ones: who would receive a send.")
    created_at: datetime
    updated_at: datetime


class SegmentCount(SQLModel):
    member_count: int
    active_count: int


class StaticMembersChange(SQLModel):
    emails: list[str] = Field(min_length=1, max_length=10_000)
