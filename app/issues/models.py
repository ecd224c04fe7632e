"""Issues (editions of the bulletin), their sections and excerpts, and the publishing calendar."""

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import StringConstraints
from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.api_types import BodyId, BodyInt, IsoDate, IsoDatetime, body_int, not_null
from app.db import JsonType, utcnow


class IssueStatus(StrEnum):
    draft = "draft"
    in_review = "in_review"
    approved = "approved"
    scheduled = "scheduled"
    sending = "sending"
    sent = "sent"
    cancelled = "cancelled"


class IssueKind(StrEnum):
    regular = "regular"
    flash = "flash"


class ExcerptKind(StrEnum):
    win = "win"
    open_work = "open_work"
    risk = "risk"
    incident = "incident"
    opportunity = "opportunity"
    info = "info"


class Issue(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    number: int = Field(unique=True)
    kind: str = Field(default=IssueKind.regular, max_length=10)
    title: str = Field(max_length=200)
    intro_md: str = Field(default="", sa_type=Text)
    intro_html: str = Field(default="", sa_type=Text)
    planned_date: date = Field(index=True)
    owner_id: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    status: str = Field(default=IssueStatus.draft, max_length=20, index=True)
    send_at: datetime | None = None
    submitted_by_id: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    submitted_at: datetime | None = None
    approved_by_id: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    approved_at: datetime | None = None
    # Why an unbalanced issue (no wins, or no open work) may go out anyway.
    balance_override_reason: str | None = Field(default=None, max_length=2000)
    # A flash issue remembers the incident it announces; its resolution becomes a recap.
    source_news_item_id: int | None = Field(
        default=None, foreign_key="news_item.id", ondelete="SET NULL"
    )
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class IssueSegment(SQLModel, table=True):
    """A target segment of an issue."""

    __tablename__ = "issue_segment"

    issue_id: int = Field(foreign_key="issue.id", primary_key=True, ondelete="CASCADE")
    segment_id: int = Field(foreign_key="segment.id", primary_key=True, ondelete="CASCADE")


class Section(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    issue_id: int = Field(foreign_key="issue.id", index=True, ondelete="CASCADE")
    title: str = Field(max_length=120)
    theme: str = Field(default="", max_length=60)
    position: int = 0
    owner_id: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    contribution_deadline: datetime | None = None


class Excerpt(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    issue_id: int = Field(foreign_key="issue.id", index=True, ondelete="CASCADE")
    section_id: int = Field(foreign_key="section.id", index=True, ondelete="CASCADE")
    position: int = 0
    kind: str = Field(max_length=20)
    theme: str = Field(default="", max_length=60)
    headline: str = Field(max_length=200)
    body_md: str = Field(default="", sa_type=Text)
    body_html: str = Field(default="", sa_type=Text)
    cta_label: str = Field(default="", max_length=80)
    cta_url: str = Field(default="", max_length=2000)
    # Segment ids this excerpt is shown to; empty means every target segment.
    segment_filter: list[int] = Field(
        default_factory=list, sa_column=Column(JsonType, nullable=False)
    )
    is_recap: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ExcerptSource(SQLModel, table=True):
    """A news item an excerpt was made from (its text was copied in; the link is kept)."""

    __tablename__ = "excerpt_source"

    excerpt_id: int = Field(foreign_key="excerpt.id", primary_key=True, ondelete="CASCADE")
    news_item_id: int = Field(
        foreign_key="news_item.id", primary_key=True, index=True, ondelete="CASCADE"
    )


class ExcerptFraming(SQLModel, table=True):
    """The text one segment sees instead of the excerpt's default body."""

    __tablename__ = "excerpt_framing"
    __table_args__ = (UniqueConstraint("excerpt_id", "segment_id"),)

    id: int | None = Field(default=None, primary_key=True)
    excerpt_id: int = Field(foreign_key="excerpt.id", index=True, ondelete="CASCADE")
    segment_id: int = Field(foreign_key="segment.id", ondelete="CASCADE")
    body_md: str = Field(sa_type=Text)
    body_html: str = Field(default="", sa_type=Text)


class CalendarSetting(SQLModel, table=True):
    """The publishing calendar: one row."""

    __tablename__ = "calendar_setting"

    id: int | None = Field(default=None, primary_key=True)
    cadence_days: int = 14
    weekday: int = 3  # Monday is 0: the bulletin goes out on Thursdays by default
    plan_ahead: int = 3
    default_owner_id: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    default_segment_ids: list[int] = Field(
        default_factory=list, sa_column=Column(JsonType, nullable=False)
    )
    title_template: str = Field(default="IT bulletin #{number}", max_length=120)


JsonDict = dict[str, Any]


# --- API schemas -------------------------------------------------------------------------

URL_PATTERN = r"^https?://[^\s]+$"
# The pattern lives on the type: pydantic 2 does not enforce SQLModel's Field(regex=...).
WebAddress = Annotated[str, StringConstraints(pattern=URL_PATTERN)]
WebAddressOrEmpty = Annotated[str, StringConstraints(pattern=r"^(https?://[^\s]+)?$")]  # "" clears
MAX_BODY = 50_000


class IssueCreate(SQLModel):
    title: str = Field(min_length=1, max_length=200)
    planned_date: IsoDate
    intro: str = Field(default="", max_length=MAX_BODY)
    owner_id: BodyId | None = None
    segment_ids: list[BodyId] = Field(default_factory=list, max_length=50)


class IssueUpdate(SQLModel):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    planned_date: IsoDate | None = None
    intro: str | None = Field(default=None, max_length=MAX_BODY)
    owner_id: BodyId | None = None
    segment_ids: list[BodyId] | None = Field(default=None, max_length=50)


class SectionCreate(SQLModel):
    title: str = Field(min_length=1, max_length=120)
    theme: str = Field(default="", max_length=60)
    owner_id: BodyId | None = None
    contribution_deadline: IsoDatetime | None = None


class SectionUpdate(SQLModel):
    title: str | None = Field(default=None, min_length=1, max_length=120)
    theme: str | None = Field(default=None, max_length=60)
    owner_id: BodyId | None = None
    contribution_deadline: IsoDatetime | None = None


class ExcerptCreate(SQLModel):
    """From news items (their text is copied in) or written by hand (kind and headline)."""

    news_item_ids: list[BodyId] = Field(default_factory=list, max_length=20)
    section_id: BodyId | None = None
    kind: ExcerptKind | None = None
    theme: str | None = Field(default=None, max_length=60)
    headline: str | None = Field(default=None, min_length=1, max_length=200)
    body: str | None = Field(default=None, max_length=MAX_BODY)
    cta_label: str | None = Field(default=None, max_length=80)
    cta_url: WebAddress | None = Field(default=None, max_length=2000)
    segment_filter: list[BodyId] = Field(default_factory=list, max_length=50)


class ExcerptUpdate(SQLModel):
    kind: ExcerptKind | None = None
    theme: str | None = Field(default=None, max_length=60)
    headline: str | None = Field(default=None, min_length=1, max_length=200)
    body: str | None = Field(default=None, max_length=MAX_BODY)
    cta_label: str | None = Field(default=None, max_length=80)
    cta_url: WebAddressOrEmpty | None = Field(default=None, max_length=2000)
    segment_filter: list[BodyId] | None = Field(default=None, max_length=50)


class ExcerptMove(SQLModel):
    section_id: BodyId
    position: BodyInt = Field(ge=0, description="0 is the top of the section")


class Ordering(SQLModel):
    ids: list[BodyId] = Field(min_length=1, max_length=500)


class FramingPut(SQLModel):
    body: str = Field(min_length=1, max_length=MAX_BODY)


class Override(SQLModel):
    override_reason: str | None = Field(default=None, max_length=2000)


class ScheduleRequest(SQLModel):
    send_at: IsoDatetime


class ReturnToDraft(SQLModel):
    comment: str = Field(default="", max_length=2000)


class CalendarUpdate(SQLModel):
    """Omitted settings stay; only the default owner can be unset (null)."""

    cadence_days: not_null(body_int(ge=1, le=90)) = None
    weekday: not_null(body_int(ge=0, le=6)) = None
    plan_ahead: not_null(body_int(ge=1, le=12)) = None
    default_owner_id: BodyId | None = None
    default_segment_ids: not_null(Annotated[list[BodyId], Field(max_length=50)]) = None
    title_template: not_null(Annotated[str, Field(min_length=1, max_length=120)]) = None


class FramingPublic(SQLModel):
    segment_id: int
    body_md: str
    body_html: str


class ExcerptPublic(SQLModel):
    id: int
    section_id: int
    position: int
    kind: str
    theme: str
    headline: str
    body_md: str
    body_html: str
    cta_label: str
    cta_url: str
    segment_filter: list[int]
    is_recap: bool
    news_item_ids: list[int] = []
    framings: list[FramingPublic] = []
    is_stale: bool = False


class SectionPublic(SQLModel):
    id: int
    title: str
    theme: str
    position: int
    owner_id: int | None
    contribution_deadline: datetime | None
    excerpts: list[ExcerptPublic] = []


class KindCounts(SQLModel):
    win: int = 0
    open_work: int = 0
    risk: int = 0
    incident: int = 0
    opportunity: int = 0
    info: int = 0


class SegmentBalance(SQLModel):
    segment_id: int
    segment_name: str
    counts: KindCounts


class Balance(SQLModel):
    counts: KindCounts
    per_segment: list[SegmentBalance]
    is_balanced: bool = Field(description="At least one win and one piece of open work.")
    missing: list[str] = Field(description="What is missing: 'win', 'open_work'.")
    stale_excerpt_ids: list[int]


class IssueSummary(SQLModel):
    id: int
    number: int
    kind: str
    title: str
    planned_date: date
    status: str
    owner_id: int | None
    send_at: datetime | None
    submitted_by_id: int | None
    approved_by_id: int | None
    balance_override_reason: str | None
    updated_at: datetime


class IssueDetail(IssueSummary):
    intro_md: str
    intro_html: str
    segment_ids: list[int]
    sections: list[SectionPublic]
    balance: Balance


class CalendarPublic(SQLModel):
    cadence_days: int
    weekday: int
    plan_ahead: int
    default_owner_id: int | None
    default_segment_ids: list[int]
    title_template: str
    upcoming: list[IssueSummary]
