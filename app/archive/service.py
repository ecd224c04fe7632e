"""The archive of sent issues: their web versions without personal data, and their feed.

Everything here is read by anyone on the intranet, so nothing of a recipient goes in: the
web version is rendered for the variant everyone shares, with neutral merge fields and no
open pixel; excerpt HTML was sanitised (nh3) on write and is cleaned once more on the way out.
"""

import re
from dataclasses import dataclass
from datetime import datetime

import nh3
from feedgen.feed import FeedGenerator
from markupsafe import Markup
from sqlalchemy import func, select
from sqlmodel import Session

from app.delivery.models import SendRun
from app.errors import NotFound
from app.issues.models import Excerpt, Issue, IssueKind, IssueStatus
from app.issues.service import target_segment_ids
from app.news.models import NewsItem, NewsKind
from app.rendering.content import MERGE_DEFAULTS, MERGE_FIELD, IssueView, build_view, merge_values
from app.rendering.service import Renderer
from app.rendering.slots import SlotTemplate
from app.web.templating import templates

PAGE_SIZE = 20
# A flash is shown to readers only once approved: nothing reaches them without four eyes.
PUBLISHED = (IssueStatus.approved, IssueStatus.scheduled, IssueStatus.sending, IssueStatus.sent)
BODY_TAG = re.compile(r"<body\b[^>]*>", re.IGNORECASE)
FEED_SIZE = 50


@dataclass(frozen=True)
class ArchiveEntry:
    issue: Issue
    sent_at: datetime


@dataclass(frozen=True)
class Flash:
    issue: Issue
    headline: str
    body_html: Markup
    occurred_at: datetime


def clean_html(html: str) -> Markup:
    """Sanitised once more: whatever was stored, nothing executable leaves the archive."""
    return Markup(nh3.clean(html))  # noqa: S704  (nh3 output is safe HTML)


def sent_issues(
    session: Session, *, page: int = 1, per_page: int = PAGE_SIZE
) -> tuple[list[ArchiveEntry], int]:
    """One page of sent issues, newest first by when their send finished, and the total."""
    sent = Issue.status == IssueStatus.sent
    total = session.scalar(select(func.count()).select_from(Issue).where(sent)) or 0
    query = (
        select(Issue, SendRun.finished_at)
        .outerjoin(SendRun, SendRun.issue_id == Issue.id)
        .where(sent)
        .order_by(func.coalesce(SendRun.finished_at, Issue.updated_at).desc(), Issue.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    entries = [
        ArchiveEntry(issue=issue, sent_at=finished_at or issue.updated_at)
        for issue, finished_at in session.execute(query)
    ]
    return entries, total


def sent_issue(session: Session, *, issue_id: int) -> ArchiveEntry:
    """A sent issue, or NotFound (drafts and unsent issues are not in the archive)."""
    row = session.execute(
        select(Issue, SendRun.finished_at)
        .outerjoin(SendRun, SendRun.issue_id == Issue.id)
        .where(Issue.id == issue_id, Issue.status == IssueStatus.sent)
    ).first()
    if row is None:
        raise NotFound("there is no such issue in the archive")
    return ArchiveEntry(issue=row[0], sent_at=row[1] or row[0].updated_at)


def public_variant(session: Session, *, issue: Issue) -> tuple[int, ...]:
    """The variant meant for everyone: the excerpts without a segment filter, in their
    default framing; if every excerpt is filtered, the first target segment's variant."""
    filters = session.scalars(select(Excerpt.segment_filter).where(Excerpt.issue_id == issue.id))
    if any(not segment_filter for segment_filter in filters):
        return ()
    return tuple(target_segment_ids(session, issue_id=issue.id)[:1])


def web_version(session: Session, *, renderer: Renderer, issue: Issue, banner: str) -> str:
    """The issue's web version for everyone, with `banner` (archive navigation) on top."""
    compiled = renderer.compiled(
        session, issue=issue, segment_ids=public_variant(session, issue=issue)
    )
    neutral = renderer.values_for(compiled, issue_id=issue.id, subscriber=None)
    page = _without_pixel(compiled.html.fill(neutral), renderer.settings.base_url)
    match = BODY_TAG.search(page)
    at = match.end() if match else 0
    return page[:at] + banner + page[at:]


def _without_pixel(page: str, base_url: str) -> str:
    # The email as sent may carry an open pixel; a page read in the archive is never counted.
    pixel = re.compile(rf'<img\b[^>]*\bsrc="{re.escape(base_url.rstrip("/"))}/o/[^"]*"[^>]*>')
    return pixel.sub("", page)


def feed_content(session: Session, *, issue: Issue) -> tuple[str, str]:
    """A sent issue for a feed reader: a plain-text summary and sanitised HTML content."""
    view = build_view(session, issue=issue, segment_ids=public_variant(session, issue=issue))
    values = merge_values(view, {})
    html = templates.get_template("archive/_feed_entry.html").render(issue=view)
    content = clean_html(SlotTemplate(html).fill(values))
    return SlotTemplate(_summary(view)).fill(values), str(content)


def _summary(view: IssueView) -> str:
    headlines = [e.headline for s in view.sections for e in s.excerpts]
    parts = [view.intro_text.strip()[:400]] if view.intro_text.strip() else []
    if headlines:
        parts.append("In this issue: " + "; ".join(headlines))
    return "\n\n".join(parts)


def active_flashes(session: Session) -> list[Flash]:
    """Approved news flashes whose incident is not resolved yet, newest first."""
    rows = session.execute(
        select(Issue, NewsItem)
        .join(NewsItem, NewsItem.id == Issue.source_news_item_id)
        .where(
            Issue.kind == IssueKind.flash,
            Issue.status.in_(PUBLISHED),
            NewsItem.kind == NewsKind.incident,
            NewsItem.resolved.is_(False),
            NewsItem.archived_at.is_(None),
        )
        .order_by(NewsItem.occurred_at.desc(), Issue.id.desc())
    )
    flashes = []
    for issue, item in rows:
        # The flash issue's excerpt is the text the approver approved; the item is the fallback.
        excerpt = session.scalars(
            select(Excerpt).where(Excerpt.issue_id == issue.id).order_by(Excerpt.position)
        ).first()
        headline, body = (
            (excerpt.headline, excerpt.body_html) if excerpt else (item.title, item.body_html)
        )
        flashes.append(
            Flash(
                issue=issue,
                headline=headline,
                body_html=clean_html(_neutral_merge_fields(body)),
                occurred_at=item.occurred_at,
            )
        )
    return flashes


def _neutral_merge_fields(html: str) -> str:
    return MERGE_FIELD.sub(lambda m: (m.group(2) or MERGE_DEFAULTS[m.group(1)]).strip(), html)


def atom_feed(session: Session, *, base_url: str, title: str, author: str) -> bytes:
    """The newest sent issues as an Atom feed: one entry per issue, linking to the archive."""
    base = base_url.rstrip("/")
    feed = FeedGenerator()
    feed.id(f"{base}/archive")
    feed.title(title)
    feed.author({"name": author})
    feed.link(href=f"{base}/archive", rel="alternate")
    feed.link(href=f"{base}/archive/feed.atom", rel="self")
    feed.language("en")
    entries, _ = sent_issues(session, per_page=FEED_SIZE)
    if entries:
        feed.updated(entries[0].sent_at)
    # feedgen lists entries in reverse order of adding: add the oldest first.
    for entry in reversed(entries):
        summary, content = feed_content(session, issue=entry.issue)
        url = f"{base}/archive/{entry.issue.id}"
        item = feed.add_entry()
        item.id(url)
        item.title(entry.issue.title)
        item.updated(entry.sent_at)
        item.published(entry.sent_at)
        item.link(href=url, rel="alternate")
        item.summary(summary)
        item.content(content, type="html")
    return feed.atom_str(pretty=True)
