"""Folded engagement (what the reports keep once raw events are deleted) and the report
schemas. Every count below the installation's minimum cell size is null in a report."""

from datetime import datetime

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from app.db import JsonType, utcnow


class EngagementRollup(SQLModel, table=True):
    """Raw events folded by retention: how many there were per issue, recipient variant,
    excerpt, link, kind and machine flag. Sums with the raw events still stored."""

    __tablename__ = "engagement_rollup"

    id: int | None = Field(default=None, primary_key=True)
    issue_id: int = Field(foreign_key="issue.id", ondelete="CASCADE", index=True)
    # The recipients' target segment ids, as in engagement_event.variant.
    variant: list[int] = Field(default_factory=list, sa_column=Column(JsonType, nullable=False))
    kind: str = Field(max_length=20)
    excerpt_id: int | None = Field(default=None, foreign_key="excerpt.id", ondelete="SET NULL")
    link_id: int | None = Field(default=None, foreign_key="tracked_link.id", ondelete="SET NULL")
    machine: bool = False
    events: int = 0
    # Distinct readers within exactly this cell (informative; not additive across cells).
    readers: int = 0
    folded_at: datetime = Field(default_factory=utcnow)


class EngagementReach(SQLModel, table=True):
    """Distinct readers per issue and variant for each measure the reports show, counted
    before the pseudonyms were deleted: unique counts cannot be summed from finer cells."""

    __tablename__ = "engagement_reach"

    id: int | None = Field(default=None, primary_key=True)
    issue_id: int = Field(foreign_key="issue.id", ondelete="CASCADE", index=True)
    variant: list[int] = Field(default_factory=list, sa_column=Column(JsonType, nullable=False))
    # opened (an open or a click), clicked, unsubscribed, clicked_excerpt (per excerpt_id)
    measure: str = Field(max_length=20)
    excerpt_id: int | None = Field(default=None, foreign_key="excerpt.id", ondelete="SET NULL")
    # True: only readers with at least one event not flagged machine.
    human_only: bool = False
    readers: int = 0
    folded_at: datetime = Field(default_factory=utcnow)


class DeliverySummary(SQLModel, table=True):
    """An issue's delivery rows counted per variant, state and permanent failure, once its
    send run is done, so a report does not group every delivery row on each request.

    Valid only while `deliveries_changed_at` is still the newest `delivery.updated_at` of
    the issue: every write to a delivery row sets `updated_at`, so a later change (a late
    bounce, a manual retry) makes the report count the rows again instead of trusting it."""

    __tablename__ = "delivery_summary"

    issue_id: int = Field(foreign_key="issue.id", ondelete="CASCADE", primary_key=True)
    # The newest delivery.updated_at of the issue that the counts include.
    deliveries_changed_at: datetime
    # [[variant, state, permanent (0 or 1), rows], ...]
    cells: list = Field(default_factory=list, sa_column=Column(JsonType, nullable=False))
    counted_at: datetime = Field(default_factory=utcnow)


class EngagementSummary(SQLModel, table=True):
    """The raw events of one issue counted as the reports need them (readers and events per
    variant, and per excerpt for clicks), so a report does not group every raw event on each
    request. Valid only while `counted_changes` equals `changes`: every write to the issue's
    raw events adds one to `changes` in its own transaction (tallies.events_changed), so a
    stored count that misses a change never looks current."""

    __tablename__ = "engagement_summary"

    issue_id: int = Field(foreign_key="issue.id", ondelete="CASCADE", primary_key=True)
    changes: int = 0
    # The value of `changes` the cells were counted at; null until first counted.
    counted_changes: int | None = None
    # {"issue": [row, ...], "excerpts": [row, ...]}: tallies.raw_cell_sums rows as dicts.
    cells: dict | None = Field(default=None, sa_column=Column(JsonType, nullable=True))
    counted_at: datetime | None = None


HIDDEN_DESCRIPTION = (
    "Fields whose value is null because it would describe fewer than `min_cell` recipients "
    "or events, with the text to show instead (e.g. 'fewer than 10'), or because showing it "
    "would let a hidden cell be worked out as a total minus the others."
)


class DeliveryFigures(SQLModel):
    audience: int | None = Field(
        description="Recipients frozen for the send (each address once; for a segment: the "
        "recipients who were in it)"
    )
    delivered: int | None = Field(description="Messages the mail server accepted (state sent)")
    failed: int | None = Field(description="Messages given up on (state failed), bounces included")
    bounced: int | None = Field(
        description="Failed with a permanent (5xx) reply: the address does not take mail"
    )


class EngagementFigures(SQLModel):
    unique_opens_raw: int | None = Field(
        description="Recipients with at least one open or click (a click proves the open, "
        "also with images blocked), machine events included"
    )
    unique_opens_human: int | None = Field(
        description="Recipients with at least one open or click not flagged machine: the "
        "estimated human openers (understates readers behind privacy proxies such as Apple "
        "Mail Privacy Protection, whose opens are all machine)"
    )
    open_rate_raw: float | None = Field(description="unique_opens_raw / delivered, 0 to 1")
    open_rate_human: float | None = Field(description="unique_opens_human / delivered, 0 to 1")
    clicks_raw: int | None = Field(description="Click events on tracked links, all of them")
    clicks_human: int | None = Field(description="Click events not flagged machine")
    unique_clickers_raw: int | None = Field(description="Recipients with at least one click")
    unique_clickers_human: int | None = Field(
        description="Recipients with at least one click not flagged machine"
    )
    click_rate_raw: float | None = Field(description="unique_clickers_raw / delivered")
    click_rate_human: float | None = Field(description="unique_clickers_human / delivered")
    click_to_open_rate_raw: float | None = Field(
        description="unique_clickers_raw / unique_opens_raw"
    )
    click_to_open_rate_human: float | None = Field(
        description="unique_clickers_human / unique_opens_human"
    )
    unsubscribes: int | None = Field(
        description="Recipients who unsubscribed through this issue's unsubscribe link"
    )
    unsubscribe_rate: float | None = Field(description="unsubscribes / delivered")


class FeedbackFigures(SQLModel):
    feedback_votes: int | None = Field(description="'Was this useful?' answers (not people)")
    feedback_useful: int | None = Field(description="Answers saying useful")
    feedback_useful_share: float | None = Field(description="feedback_useful / feedback_votes")
    feedback_relevance_mean: float | None = Field(
        description="Mean relevance rating, 1 (poor) to 5, of the answers that gave one"
    )
    feedback_clarity_mean: float | None = Field(
        description="Mean clarity rating, 1 (poor) to 5, of the answers that gave one"
    )


class IssueFigures(DeliveryFigures, EngagementFigures, FeedbackFigures):
    issue_id: int
    number: int
    title: str
    status: str
    sent_at: datetime | None = Field(description="When sending began (the audience froze)")
    hidden: dict[str, str] = Field(default_factory=dict, description=HIDDEN_DESCRIPTION)


class SegmentFigures(DeliveryFigures, EngagementFigures):
    segment_id: int
    segment_name: str
    hidden: dict[str, str] = Field(default_factory=dict, description=HIDDEN_DESCRIPTION)


class ExcerptFigures(FeedbackFigures):
    excerpt_id: int
    headline: str
    section: str
    position: int = Field(description="Order in the issue, from 1")
    delivered: int | None = Field(
        description="Delivered messages that showed this excerpt (its segment filter applied)"
    )
    clicks_raw: int | None = Field(description="Clicks on this excerpt's links, all of them")
    clicks_human: int | None = Field(description="Clicks not flagged machine")
    unique_clickers_raw: int | None = Field(description="Recipients who clicked its links")
    unique_clickers_human: int | None = Field(
        description="Recipients with a click on its links not flagged machine"
    )
    click_rate_raw: float | None = Field(description="unique_clickers_raw / delivered")
    click_rate_human: float | None = Field(description="unique_clickers_human / delivered")
    hidden: dict[str, str] = Field(default_factory=dict, description=HIDDEN_DESCRIPTION)


class ReportBase(SQLModel):
    min_cell: int = Field(description="Counts below this many recipients or events are hidden")


class IssueStats(ReportBase):
    issue: IssueFigures
    segments: list[SegmentFigures]
    excerpts: list[ExcerptFigures]


class SegmentStats(ReportBase):
    issue_id: int
    segments: list[SegmentFigures]


class ExcerptStats(ReportBase):
    issue_id: int
    excerpts: list[ExcerptFigures]


class TrendStats(ReportBase):
    issues: list[IssueFigures] = Field(description="The last sent issues, oldest first")
