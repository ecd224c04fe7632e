"""Reports per issue, segment and excerpt, and the trend over the last sent issues.

Counts come from SQL (app.analytics.tallies); this module adds them up per report row and
hides small cells (app.analytics.disclosure) before anything leaves.
"""

from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import select
from sqlmodel import Session

from app.analytics.disclosure import Row, hide_complements
from app.analytics.models import (
    ExcerptFigures,
    ExcerptStats,
    IssueFigures,
    IssueStats,
    SegmentFigures,
    SegmentStats,
    TrendStats,
)
from app.analytics.tallies import FeedbackTally, Tally, Variant, feedback, tallies
from app.delivery.models import SendRun
from app.errors import Conflict, NotFound
from app.issues.models import Excerpt, Issue, IssueSegment, Section
from app.segments.models import Segment
from app.tracking.models import EventKind

# How far the studio's views of the reports (the dashboard's glance, the trend, an issue's
# page) may run behind readers' newest hits: while hits stream in after a send they recount
# an issue at most this often instead of at every view. The API and the CSVs are exact.
STUDIO_LAG = timedelta(seconds=30)

DELIVERY_COUNTS = ("audience", "delivered", "failed", "bounced")
ENGAGEMENT_COUNTS = (
    "unique_opens_raw",
    "unique_opens_human",
    "clicks_raw",
    "clicks_human",
    "unique_clickers_raw",
    "unique_clickers_human",
    "unsubscribes",
)
FEEDBACK_COUNTS = ("feedback_votes", "feedback_useful")


def sent_issue(session: Session, *, issue_id: int) -> tuple[Issue, SendRun]:
    """The issue and its send; 404 if unknown, 409 if it has not been sent."""
    issue = session.get(Issue, issue_id)
    if issue is None:
        raise NotFound(f"issue {issue_id} does not exist")
    run = session.scalar(select(SendRun).where(SendRun.issue_id == issue_id))
    if run is None or run.frozen_at is None:
        raise Conflict(
            f"issue {issue.number} has not been sent (it is {issue.status}): "
            "its stats begin when sending starts",
            errors=[{"field": "issue_id", "reason": "not sent yet"}],
        )
    return issue, run


def issue_stats(
    session: Session, *, issue_id: int, min_cell: int, lag: timedelta | None = None
) -> IssueStats:
    """The issue's figures with its segments and excerpts (`lag`: see trend)."""
    issue, run = sent_issue(session, issue_id=issue_id)
    found = tallies(session, issue_ids=[issue.id], lag=lag)[issue.id]
    votes = feedback(session, issue_ids=[issue.id])[issue.id]
    return IssueStats(
        min_cell=min_cell,
        issue=_issue_figures(issue, run, found, votes, min_cell=min_cell),
        segments=_segment_rows(session, issue.id, found, min_cell=min_cell),
        excerpts=_excerpt_rows(session, issue.id, found, votes, min_cell=min_cell),
    )


def segment_stats(session: Session, *, issue_id: int, min_cell: int) -> SegmentStats:
    issue, _ = sent_issue(session, issue_id=issue_id)
    found = tallies(session, issue_ids=[issue.id])[issue.id]
    rows = _segment_rows(session, issue.id, found, min_cell=min_cell)
    return SegmentStats(min_cell=min_cell, issue_id=issue.id, segments=rows)


def excerpt_stats(session: Session, *, issue_id: int, min_cell: int) -> ExcerptStats:
    issue, _ = sent_issue(session, issue_id=issue_id)
    found = tallies(session, issue_ids=[issue.id])[issue.id]
    votes = feedback(session, issue_ids=[issue.id])[issue.id]
    rows = _excerpt_rows(session, issue.id, found, votes, min_cell=min_cell)
    return ExcerptStats(min_cell=min_cell, issue_id=issue.id, excerpts=rows)


def trend(
    session: Session, *, last: int, min_cell: int, lag: timedelta | None = None
) -> TrendStats:
    """The last `last` issues whose sending began, oldest first, with the same figures
    (`lag`: how far behind new raw events they may be, see tallies.raw_summaries)."""
    runs = session.execute(
        select(Issue, SendRun)
        .join(SendRun, SendRun.issue_id == Issue.id)
        .where(SendRun.frozen_at.is_not(None))
        .order_by(SendRun.frozen_at.desc(), Issue.id.desc())
        .limit(last)
    ).all()
    ids = [issue.id for issue, _ in runs]
    found = tallies(session, issue_ids=ids, per_excerpt=False, lag=lag)  # no excerpts shown
    votes = feedback(session, issue_ids=ids)
    figures = [
        _issue_figures(issue, run, found[issue.id], votes[issue.id], min_cell=min_cell)
        for issue, run in reversed(runs)
    ]
    return TrendStats(min_cell=min_cell, issues=figures)


def _issue_figures(
    issue: Issue,
    run: SendRun,
    found: dict[Variant, Tally],
    votes: dict[int, FeedbackTally],
    *,
    min_cell: int,
) -> IssueFigures:
    counts = _engagement_counts(found.values())
    counts["audience"] = run.audience_size
    counts.update(_feedback_counts(votes.values()))
    row = Row(counts).hide_small(min_cell=min_cell, group="audience")
    return IssueFigures(
        issue_id=issue.id,
        number=issue.number,
        title=issue.title,
        status=issue.status,
        sent_at=run.frozen_at,
        **row.published(),
        hidden=row.public_hidden(),
    )


def _engagement_counts(tallies_: Iterable[Tally]) -> dict[str, int]:
    """Delivery and engagement counts over disjoint variants (so they add up)."""
    counts = dict.fromkeys(DELIVERY_COUNTS + ENGAGEMENT_COUNTS, 0)
    for tally in tallies_:
        counts["audience"] += tally.audience
        counts["delivered"] += tally.delivered
        counts["failed"] += tally.failed
        counts["bounced"] += tally.bounced
        counts["unique_opens_raw"] += tally.reach[("opened", None, False)]
        counts["unique_opens_human"] += tally.reach[("opened", None, True)]
        counts["unique_clickers_raw"] += tally.reach[("clicked", None, False)]
        counts["unique_clickers_human"] += tally.reach[("clicked", None, True)]
        counts["unsubscribes"] += tally.reach[("unsubscribed", None, False)]
        human_clicks = tally.events[(EventKind.click, False)]
        counts["clicks_human"] += human_clicks
        counts["clicks_raw"] += human_clicks + tally.events[(EventKind.click, True)]
    return counts


def _feedback_counts(votes: Iterable[FeedbackTally]) -> dict[str, int]:
    counts = dict.fromkeys(
        (*FEEDBACK_COUNTS, "relevance_count", "relevance_sum", "clarity_count", "clarity_sum"),
        0,
    )
    for tally in votes:
        counts["feedback_votes"] += tally.votes
        counts["feedback_useful"] += tally.useful
        for name in ("relevance_count", "relevance_sum", "clarity_count", "clarity_sum"):
            counts[name] += getattr(tally, name)
    return counts


def _segment_rows(
    session: Session, issue_id: int, found: dict[Variant, Tally], *, min_cell: int
) -> list[SegmentFigures]:
    """A recipient in two target segments counts in both."""
    segment_ids = set(
        session.scalars(select(IssueSegment.segment_id).where(IssueSegment.issue_id == issue_id))
    )
    segment_ids.update(s for variant in found for s in variant)
    names = dict(
        session.execute(select(Segment.id, Segment.name).where(Segment.id.in_(segment_ids))).all()
    )
    ordered = sorted(segment_ids, key=lambda s: (names.get(s, ""), s))
    rows = [
        Row(_engagement_counts(t for v, t in found.items() if s in v)).hide_small(
            min_cell=min_cell, group="audience"
        )
        for s in ordered
    ]
    hide_complements(rows, columns=[*DELIVERY_COUNTS, *ENGAGEMENT_COUNTS])
    return [
        SegmentFigures(
            segment_id=s,
            segment_name=names.get(s, f"segment {s} (deleted)"),
            **row.published(),
            hidden=row.public_hidden(),
        )
        for s, row in zip(ordered, rows, strict=True)
    ]


def _excerpt_rows(
    session: Session,
    issue_id: int,
    found: dict[Variant, Tally],
    votes: dict[int, FeedbackTally],
    *,
    min_cell: int,
) -> list[ExcerptFigures]:
    excerpts = session.execute(
        select(Excerpt, Section.title)
        .join(Section, Section.id == Excerpt.section_id)
        .where(Excerpt.issue_id == issue_id)
        .order_by(Section.position, Section.id, Excerpt.position, Excerpt.id)
    ).all()
    rows = [Row(_excerpt_counts(excerpt, found, votes.get(excerpt.id))) for excerpt, _ in excerpts]
    for row in rows:
        row.hide_small(min_cell=min_cell, group="delivered")
    # Clicks of all excerpts (plus the introduction's) and all votes add up to the issue's.
    hide_complements(rows, columns=["clicks_raw", "clicks_human", *FEEDBACK_COUNTS])
    return [
        ExcerptFigures(
            excerpt_id=excerpt.id,
            headline=excerpt.headline,
            section=section_title,
            position=position,
            **row.published(),
            hidden=row.public_hidden(),
        )
        for position, ((excerpt, section_title), row) in enumerate(
            zip(excerpts, rows, strict=True), start=1
        )
    ]


def _excerpt_counts(
    excerpt: Excerpt, found: dict[Variant, Tally], votes: FeedbackTally | None
) -> dict[str, int]:
    counts = dict.fromkeys(
        ("delivered", "clicks_raw", "clicks_human", "unique_clickers_raw", "unique_clickers_human"),
        0,
    )
    for variant, tally in found.items():
        # The renderer's rule: no filter, or the recipient is in one of its segments.
        if not excerpt.segment_filter or set(excerpt.segment_filter) & set(variant):
            counts["delivered"] += tally.delivered
        human = tally.excerpt_clicks[(excerpt.id, False)]
        counts["clicks_human"] += human
        counts["clicks_raw"] += human + tally.excerpt_clicks[(excerpt.id, True)]
        counts["unique_clickers_raw"] += tally.reach[("clicked_excerpt", excerpt.id, False)]
        counts["unique_clickers_human"] += tally.reach[("clicked_excerpt", excerpt.id, True)]
    counts.update(_feedback_counts([votes] if votes else []))
    return counts
