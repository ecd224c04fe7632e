"""What the inbox offers the editor for the next issue, with the reason for each offer."""

from sqlalchemy import and_, exists, select
from sqlmodel import Session, SQLModel

from app.db import utcnow
from app.issues.models import Excerpt, ExcerptSource, Issue, IssueKind
from app.news.models import NewsItem


class Suggestion(SQLModel):
    news_item_id: int
    title: str
    kind: str
    theme: str
    reason: str  # "recap", "done_since_last_time" or "new"
    is_stale: bool


def suggestions(session: Session, *, issue: Issue, limit: int = 50) -> list[Suggestion]:
    """Recaps of resolved flash incidents, open work that got done, then fresh unused news."""
    in_regular_issue = (
        select(ExcerptSource.news_item_id)
        .join(Excerpt, Excerpt.id == ExcerptSource.excerpt_id)
        .join(Issue, Issue.id == Excerpt.issue_id)
        .where(Issue.kind == IssueKind.regular)
    )
    used_anywhere = select(ExcerptSource.news_item_id)
    had_flash = exists().where(
        Issue.source_news_item_id == NewsItem.id, Issue.kind == IssueKind.flash
    )
    active = NewsItem.archived_at.is_(None)
    recaps = select(NewsItem).where(
        active, NewsItem.resolved, had_flash, NewsItem.id.not_in(in_regular_issue)
    )
    done = select(NewsItem).where(
        active,
        NewsItem.open_since.is_not(None),
        NewsItem.kind == "win",
        ~had_flash,
        _told_as_open_only(),
    )
    fresh = select(NewsItem).where(
        active,
        NewsItem.id.not_in(used_anywhere),
        NewsItem.stale_at > utcnow(),
        ~had_flash,
    )
    offers: list[Suggestion] = []
    seen: set[int] = set()
    for reason, query in (("recap", recaps), ("done_since_last_time", done), ("new", fresh)):
        for item in session.scalars(query.order_by(NewsItem.occurred_at.desc()).limit(limit)):
            if item.id not in seen and len(offers) < limit:
                seen.add(item.id)
                offers.append(
                    Suggestion(
                        news_item_id=item.id,
                        title=item.title,
                        kind=item.kind,
                        theme=item.theme,
                        reason=reason,
                        is_stale=item.stale_at <= utcnow(),
                    )
                )
    return offers


def _told_as_open_only():
    # Open work that an earlier excerpt reported as open, and that no excerpt has yet
    # reported as done: the bulletin can now say "last time this was open; it is done".
    def told(*kinds_clause):
        return exists(
            select(ExcerptSource.news_item_id)
            .join(Excerpt, Excerpt.id == ExcerptSource.excerpt_id)
            .where(ExcerptSource.news_item_id == NewsItem.id, *kinds_clause)
        )

    return and_(told(Excerpt.kind == "open_work"), ~told(Excerpt.kind != "open_work"))
