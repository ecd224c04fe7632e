"""News flashes: an incident posted with `flash: true` becomes an out-of-cycle issue.

The flash issue is created ready for a fast-track approval (in review), for the incident's
suggested segments. When the same incident later arrives resolved, it is linked as the
flash's follow-up and the next bulletin offers it as a recap (see suggestions.py).
"""

from sqlalchemy import select
from sqlmodel import Session

from app.accounts.principal import SYSTEM_PRINCIPAL, Principal
from app.audit.service import record
from app.db import utcnow
from app.issues import service as issues
from app.issues.models import ExcerptCreate, Issue, IssueCreate, IssueKind, IssueStatus
from app.news.models import NewsItem


def flash_issue_for(session: Session, *, news_item_id: int) -> Issue | None:
    return session.scalar(
        select(Issue).where(
            Issue.kind == IssueKind.flash, Issue.source_news_item_id == news_item_id
        )
    )


def react_to_news_item(session: Session, *, item: NewsItem, actor: Principal) -> Issue | None:
    """Open a flash issue for a new flash incident, or link a resolution to its flash."""
    if item.kind != "incident":
        return None
    existing = flash_issue_for(session, news_item_id=item.id)
    if existing is not None:
        if item.resolved:
            record(
                session,
                actor=actor,
                action="issue.flash_resolved",
                object_type="issue",
                object_id=existing.id,
                details={"news_item_id": item.id},
            )
        return existing
    if not item.flash or item.resolved:
        return None
    return _open_flash_issue(session, item)


def _open_flash_issue(session: Session, item: NewsItem) -> Issue:
    issue = issues.create(
        session,
        actor=SYSTEM_PRINCIPAL,
        kind=IssueKind.flash,
        data=IssueCreate(
            title=f"News flash: {item.title}"[:200],
            planned_date=utcnow().date(),
            segment_ids=list(item.suggested_segment_ids),
        ),
    )
    issue.source_news_item_id = item.id
    issues.add_excerpt(
        session, issue=issue, actor=SYSTEM_PRINCIPAL, data=ExcerptCreate(news_item_ids=[item.id])
    )
    # Ready for a fast-track approval: no editor round trip for an outage notice.
    issue.status = IssueStatus.in_review
    issue.submitted_at = utcnow()
    session.add(issue)
    session.flush()
    record(
        session,
        actor=SYSTEM_PRINCIPAL,
        action="issue.flash_created",
        object_type="issue",
        object_id=issue.id,
        details={"news_item_id": item.id, "number": issue.number},
    )
    return issue
