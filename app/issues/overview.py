"""Read models of an issue: its full content, the balance meter and stale flags."""

from collections import defaultdict

from sqlalchemy import select
from sqlmodel import Session

from app.db import utcnow
from app.issues.models import (
    Balance,
    Excerpt,
    ExcerptFraming,
    ExcerptKind,
    ExcerptPublic,
    ExcerptSource,
    FramingPublic,
    Issue,
    IssueDetail,
    IssueSummary,
    KindCounts,
    SectionPublic,
    SegmentBalance,
)
from app.issues.service import sections_of, target_segment_ids
from app.news.models import NewsItem
from app.segments.models import Segment


def detail(session: Session, *, issue: Issue) -> IssueDetail:
    """The issue with its sections, excerpts, framings, sources and balance (a few queries)."""
    excerpts = list(
        session.scalars(
            select(Excerpt)
            .where(Excerpt.issue_id == issue.id)
            .order_by(Excerpt.position, Excerpt.id)
        )
    )
    excerpt_ids = [e.id for e in excerpts]
    sources: dict[int, list[int]] = defaultdict(list)
    for excerpt_id, item_id in session.execute(
        select(ExcerptSource.excerpt_id, ExcerptSource.news_item_id).where(
            ExcerptSource.excerpt_id.in_(excerpt_ids)
        )
    ):
        sources[excerpt_id].append(item_id)
    framings: dict[int, list[FramingPublic]] = defaultdict(list)
    for framing in session.scalars(
        select(ExcerptFraming)
        .where(ExcerptFraming.excerpt_id.in_(excerpt_ids))
        .order_by(ExcerptFraming.segment_id)
    ):
        framings[framing.excerpt_id].append(FramingPublic.model_validate(framing))
    stale = stale_excerpt_ids(session, excerpt_ids=excerpt_ids)
    by_section: dict[int, list[ExcerptPublic]] = defaultdict(list)
    for excerpt in excerpts:
        by_section[excerpt.section_id].append(
            ExcerptPublic.model_validate(
                {
                    **excerpt.model_dump(),
                    "news_item_ids": sorted(sources[excerpt.id]),
                    "framings": framings[excerpt.id],
                    "is_stale": excerpt.id in stale,
                }
            )
        )
    segment_ids = target_segment_ids(session, issue_id=issue.id)
    sections = [
        SectionPublic.model_validate({**section.model_dump(), "excerpts": by_section[section.id]})
        for section in sections_of(session, issue_id=issue.id)
    ]
    return IssueDetail.model_validate(
        {
            **IssueSummary.model_validate(issue).model_dump(),
            "intro_md": issue.intro_md,
            "intro_html": issue.intro_html,
            "segment_ids": segment_ids,
            "sections": sections,
            "balance": _balance(session, excerpts, segment_ids, stale),
        }
    )


def balance(session: Session, *, issue: Issue) -> Balance:
    """How many wins, open work and other kinds, overall and per target segment."""
    excerpts = list(session.scalars(select(Excerpt).where(Excerpt.issue_id == issue.id)))
    stale = stale_excerpt_ids(session, excerpt_ids=[e.id for e in excerpts])
    return _balance(session, excerpts, target_segment_ids(session, issue_id=issue.id), stale)


def stale_excerpt_ids(session: Session, *, excerpt_ids: list[int]) -> set[int]:
    """Excerpts made from at least one news item that is past its topicality window."""
    query = (
        select(ExcerptSource.excerpt_id)
        .join(NewsItem, NewsItem.id == ExcerptSource.news_item_id)
        .where(ExcerptSource.excerpt_id.in_(excerpt_ids), NewsItem.stale_at <= utcnow())
    )
    return set(session.scalars(query))


def _balance(
    session: Session, excerpts: list[Excerpt], segment_ids: list[int], stale: set[int]
) -> Balance:
    names = dict(
        session.execute(select(Segment.id, Segment.name).where(Segment.id.in_(segment_ids))).all()
    )
    per_segment = [
        SegmentBalance(
            segment_id=segment_id,
            segment_name=names.get(segment_id, ""),
            counts=_count(
                e for e in excerpts if not e.segment_filter or segment_id in e.segment_filter
            ),
        )
        for segment_id in segment_ids
    ]
    counts = _count(excerpts)
    missing = [kind for kind in ("win", "open_work") if getattr(counts, kind) == 0]
    return Balance(
        counts=counts,
        per_segment=per_segment,
        is_balanced=not missing,
        missing=missing,
        stale_excerpt_ids=sorted(stale),
    )


def _count(excerpts) -> KindCounts:
    counts = dict.fromkeys((k.value for k in ExcerptKind), 0)
    for excerpt in excerpts:
        counts[excerpt.kind] += 1
    return KindCounts(**counts)
