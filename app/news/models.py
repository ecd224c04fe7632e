"""News items: what other systems (and editors) report, before it becomes an excerpt."""

import math
import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    StringConstraints,
    computed_field,
    field_validator,
)
from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.api_types import (
    HTTP_URL,
    ONE_LINE,
    REQUIRED_LINE,
    BodyBool,
    IsoDatetime,
    documented_pattern,
    not_null,
)
from app.db import JsonType, utcnow
from app.news.markdown import is_absolute_link


class NewsKind(StrEnum):
    win = "win"
    open_work = "open_work"
    risk = "risk"
    incident = "incident"
    opportunity = "opportunity"
    info = "info"


MAX_SOURCE = 100
MAX_EXTERNAL_ID = 200
MAX_TITLE = 300
MAX_BODY = 50_000
MAX_LINK = 2000
MAX_THEME = 80
MAX_SUGGESTED_SEGMENTS = 20
MAX_KEY_FIGURES = 10
# C0 and C1 controls, DEL, and lone surrogates (which PostgreSQL cannot store).
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# The same, but a markdown body keeps its tabs and line breaks.
BODY_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)


def _one_line(value: str) -> str:
    value = value.strip()
    if CONTROL.search(value):
        raise ValueError("control characters (line breaks, tabs, NUL ...) are not allowed")
    return value


def _required_line(value: str) -> str:
    value = _one_line(value)
    if not value:
        raise ValueError("must not be empty")
    return value


def _markdown_text(value: str) -> str:
    if BODY_CONTROL.search(value):
        raise ValueError("control characters other than tab and line breaks are not allowed")
    return value


def _theme(value: str) -> str:
    return _one_line(value).lower()


def _no_link_when_blank(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


def _http_link(value: str) -> str:
    value = value.strip()
    if not re.match(HTTP_URL, value) or not is_absolute_link(value):
        raise ValueError("must be an absolute http(s) URL, e.g. https://tickets.example.com/42")
    return value


def _utc(value: datetime) -> datetime:
    # A time without offset is taken as UTC: integrating systems mostly log in UTC.
    value = value.replace(tzinfo=UTC) if value.utcoffset() is None else value.astimezone(UTC)
    if not EARLIEST <= value < LATEST:
        raise ValueError("must be between 1970 and 3000")
    return value


def _text(max_length: int, check, pattern: str) -> Any:
    return Annotated[
        str,
        StringConstraints(max_length=max_length),
        AfterValidator(check),
        documented_pattern(pattern),
    ]


BODY_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"  # BODY_CONTROL but surrogates

Source = _text(MAX_SOURCE, _required_line, REQUIRED_LINE)
ExternalId = _text(MAX_EXTERNAL_ID, _required_line, REQUIRED_LINE)
Title = _text(MAX_TITLE, _required_line, REQUIRED_LINE)
MarkdownBody = _text(MAX_BODY, _markdown_text, BODY_TEXT)
Theme = _text(MAX_THEME, _theme, ONE_LINE)
Unit = _text(20, _one_line, ONE_LINE)
# An empty link means no link; anything else must be http(s).
OptionalLink = Annotated[
    Annotated[str, StringConstraints(max_length=MAX_LINK), AfterValidator(_http_link)] | None,
    BeforeValidator(_no_link_when_blank),
    documented_pattern(rf"^\s*$|{HTTP_URL}"),
]
UtcDatetime = Annotated[IsoDatetime, AfterValidator(_utc)]
SegmentRefs = Annotated[
    list[Any],
    Field(
        max_length=MAX_SUGGESTED_SEGMENTS,
        description="Segment names or ids; stored as ids",
        schema_extra={
            "json_schema_extra": {"items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}}
        },
    ),
]
KeyFigures = Annotated[list["KeyFigure"], Field(max_length=MAX_KEY_FIGURES)]


class KeyFigure(SQLModel):
    """A number worth showing: {"label": "licences saved", "value": 120, "unit": "EUR"}."""

    model_config = ConfigDict(extra="forbid")

    label: _text(80, _required_line, REQUIRED_LINE)
    value: str | int | float
    unit: Unit | None = None

    @field_validator("value", mode="before")
    @classmethod
    def _short_text_or_finite_number(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError("must be a number or a short text")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("must be a finite number")
        if isinstance(value, str):
            value = _required_line(value)
            if len(value) > 40:
                raise ValueError("a text value has at most 40 characters")
        return value


class NewsItem(SQLModel, table=True):
    __tablename__ = "news_item"
    __table_args__ = (UniqueConstraint("source", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    # The natural key: a repost with the same pair updates this item instead of adding one.
    source: str = Field(max_length=MAX_SOURCE)
    external_id: str = Field(max_length=MAX_EXTERNAL_ID)
    title: str = Field(max_length=MAX_TITLE)  # plain text, escaped wherever it is shown
    body_md: str = Field(default="", sa_type=Text)  # as posted (the API's `body`)
    body_html: str = Field(default="", sa_type=Text)  # rendered and sanitised
    link: str | None = Field(default=None, max_length=MAX_LINK)
    kind: str = Field(max_length=20, index=True)
    theme: str = Field(default="", max_length=MAX_THEME, index=True)
    suggested_segment_ids: list[int] = Field(
        default_factory=list, sa_column=Column(JsonType, nullable=False)
    )
    key_figures: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JsonType, nullable=False)
    )
    occurred_at: datetime = Field(index=True)
    valid_until: datetime | None = None
    # valid_until, or occurred_at plus the kind's window: kept so `stale` is a plain filter.
    stale_at: datetime = Field(index=True)
    flash: bool = False
    resolved: bool = False
    # Set when open work arrives as a win: when it was first open, and when it was done.
    open_since: datetime | None = None
    resolved_at: datetime | None = None
    archived_at: datetime | None = Field(default=None, index=True)
    # The last payload the source posted, to tell its changes from an editor's edits.
    last_posted: dict[str, Any] | None = Field(
        default=None, sa_column=Column(JsonType, nullable=True)
    )
    created_by: str = Field(default="", max_length=320)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class NewsItemRevision(SQLModel, table=True):
    """One change to a news item: the fields it changed and their values before."""

    __tablename__ = "news_item_revision"

    id: int | None = Field(default=None, primary_key=True)
    news_item_id: int = Field(foreign_key="news_item.id", index=True, ondelete="CASCADE")
    changed_at: datetime = Field(default_factory=utcnow)
    via: str = Field(max_length=20)  # "post" (a repost by the source) or "edit" (a PATCH)
    actor_kind: str = Field(max_length=20)
    actor_id: int | None = None
    actor_label: str = Field(max_length=320)
    changed_fields: list[str] = Field(
        default_factory=list, sa_column=Column(JsonType, nullable=False)
    )
    previous: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JsonType, nullable=False)
    )


class RateLimitWindow(SQLModel, table=True):
    """Requests per caller and minute, shared by every app process through the database."""

    __tablename__ = "rate_limit_window"

    key: str = Field(max_length=120, primary_key=True)
    window_start: datetime = Field(primary_key=True)
    hits: int = 0


class NewsItemCreate(SQLModel):
    model_config = ConfigDict(extra="forbid")

    source: Source = Field(description="The posting system, e.g. monitoring")
    external_id: ExternalId = Field(description="The item's id in that system")
    title: Title = Field(description="Plain text")
    body: MarkdownBody = Field(default="", description="Markdown")
    link: OptionalLink = None
    kind: NewsKind
    theme: Theme = Field(default="", description="e.g. licensing, security; stored lower-case")
    suggested_segments: SegmentRefs = []
    key_figures: KeyFigures = []
    occurred_at: UtcDatetime
    valid_until: UtcDatetime | None = None
    flash: BodyBool = False
    resolved: BodyBool = Field(default=False, description="For incidents: it is over")


class NewsItemUpdate(SQLModel):
    """An editor's change; omitted fields stay, valid_until and link may be set to null."""

    model_config = ConfigDict(extra="forbid")

    title: not_null(Title) = None
    body: not_null(MarkdownBody) = None
    link: OptionalLink = None
    kind: not_null(NewsKind) = None
    theme: not_null(Theme) = None
    suggested_segments: not_null(SegmentRefs) = None
    key_figures: not_null(KeyFigures) = None
    occurred_at: not_null(UtcDatetime) = None
    valid_until: UtcDatetime | None = None
    flash: not_null(BodyBool) = None
    resolved: not_null(BodyBool) = None

    @field_validator(
        "title", "body", "kind", "theme", "suggested_segments", "key_figures", "occurred_at",
        "flash", "resolved",
    )  # fmt: skip
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Only a value sent as null gets here as None (defaults are not validated).
        if value is None:
            raise ValueError("may be omitted, but not null")
        return value


class NewsItemRevisionPublic(SQLModel):
    id: int
    changed_at: datetime
    via: str
    actor_kind: str
    actor_label: str
    changed_fields: list[str]
    previous: dict[str, Any]


class NewsItemPublic(SQLModel):
    id: int
    source: str
    external_id: str
    title: str
    body_md: str
    body_html: str
    link: str | None
    kind: str
    theme: str
    suggested_segment_ids: list[int]
    key_figures: list[KeyFigure]
    occurred_at: datetime
    valid_until: datetime | None
    stale_at: datetime
    flash: bool
    resolved: bool
    open_since: datetime | None
    resolved_at: datetime | None
    archived_at: datetime | None
    created_by: str
    created_at: datetime
    updated_at: datetime

    @computed_field
    @property
    def is_stale(self) -> bool:
        """Past valid_until, or past the kind's topicality window."""
        return self.stale_at <= utcnow()


class NewsItemDetail(NewsItemPublic):
    revisions: list[NewsItemRevisionPublic] = Field(description="Newest first")


class NewsItemsPage(SQLModel):
    items: list[NewsItemPublic]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null at the end."
    )
