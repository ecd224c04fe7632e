"""Composing an issue: its fields, target segments, sections, excerpts and framings."""

from datetime import date

from sqlalchemy import delete, func, select
from sqlmodel import Session

from app.accounts.models import User
from app.accounts.principal import Principal
from app.audit.service import record
from app.db import utcnow
from app.errors import Conflict, Invalid, NotFound
from app.issues.models import (
    MAX_BODY,
    Excerpt,
    ExcerptCreate,
    ExcerptFraming,
    ExcerptKind,
    ExcerptSource,
    ExcerptUpdate,
    Issue,
    IssueCreate,
    IssueKind,
    IssueSegment,
    IssueStatus,
    IssueUpdate,
    Section,
    SectionCreate,
    SectionUpdate,
)
from app.news.markdown import render_markdown
from app.news.models import NewsItem
from app.segments.models import Segment

# Content can change until the issue starts going out; after approval a change sends it back.
FROZEN = (IssueStatus.sending, IssueStatus.sent, IssueStatus.cancelled)
APPROVED = (IssueStatus.approved, IssueStatus.scheduled)


def get(session: Session, *, issue_id: int) -> Issue:
    """Load an issue or raise NotFound."""
    issue = session.get(Issue, issue_id)
    if issue is None:
        raise NotFound(f"issue {issue_id} does not exist")
    return issue


def list_issues(
    session: Session,
    *,
    status: IssueStatus | None = None,
    kind: IssueKind | None = None,
    limit: int = 50,
) -> list[Issue]:
    """Newest planned date first."""
    query = select(Issue).order_by(Issue.planned_date.desc(), Issue.number.desc()).limit(limit)
    if status:
        query = query.where(Issue.status == status)
    if kind:
        query = query.where(Issue.kind == kind)
    return list(session.scalars(query))


def next_number(session: Session) -> int:
    return (session.scalar(select(func.max(Issue.number))) or 0) + 1


def create(
    session: Session, *, data: IssueCreate, actor: Principal, kind: IssueKind = IssueKind.regular
) -> Issue:
    """A new draft issue with the next number."""
    check_user(session, user_id=data.owner_id, field="owner_id")
    issue = Issue(
        number=next_number(session),
        kind=kind,
        title=data.title.strip(),
        intro_md=data.intro,
        intro_html=render_markdown(data.intro),
        planned_date=data.planned_date,
        owner_id=data.owner_id,
    )
    session.add(issue)
    session.flush()
    set_target_segments(session, issue=issue, segment_ids=data.segment_ids)
    record(
        session,
        actor=actor,
        action="issue.created",
        object_type="issue",
        object_id=issue.id,
        details={"number": issue.number, "kind": kind},
    )
    return issue


def update(session: Session, *, issue: Issue, data: IssueUpdate, actor: Principal) -> Issue:
    """Change title, intro, planned date, owner or target segments."""
    changes = data.model_dump(exclude_unset=True)
    content_changed(session, issue=issue, actor=actor)
    if changes.get("title") is not None:
        issue.title = changes["title"].strip()
    if changes.get("intro") is not None:
        issue.intro_md = changes["intro"]
        issue.intro_html = render_markdown(changes["intro"])
    if changes.get("planned_date") is not None:
        issue.planned_date = changes["planned_date"]
    if "owner_id" in changes:
        check_user(session, user_id=changes["owner_id"], field="owner_id")
        issue.owner_id = changes["owner_id"]
    if changes.get("segment_ids") is not None:
        set_target_segments(session, issue=issue, segment_ids=changes["segment_ids"])
    session.add(issue)
    session.flush()
    record(
        session,
        actor=actor,
        action="issue.updated",
        object_type="issue",
        object_id=issue.id,
        details={"fields": sorted(changes)},
    )
    return issue


def set_target_segments(session: Session, *, issue: Issue, segment_ids: list[int]) -> None:
    wanted = existing_segment_ids(session, segment_ids, field="segment_ids")
    session.execute(delete(IssueSegment).where(IssueSegment.issue_id == issue.id))
    for segment_id in wanted:
        session.add(IssueSegment(issue_id=issue.id, segment_id=segment_id))
    session.flush()


def target_segment_ids(session: Session, *, issue_id: int) -> list[int]:
    return list(
        session.scalars(
            select(IssueSegment.segment_id)
            .where(IssueSegment.issue_id == issue_id)
            .order_by(IssueSegment.segment_id)
        )
    )


def content_changed(session: Session, *, issue: Issue, actor: Principal) -> None:
    """Refuse changes once sending started; send an approved issue back to draft."""
    if issue.status in FROZEN:
        raise Conflict(f"issue {issue.number} is {issue.status}; its content can no longer change")
    if issue.status in APPROVED:
        record(
            session,
            actor=actor,
            action="issue.returned_to_draft",
            object_type="issue",
            object_id=issue.id,
            details={"reason": "content changed after approval", "was": issue.status},
        )
        issue.status = IssueStatus.draft
        issue.approved_by_id = issue.approved_at = issue.send_at = None
    issue.updated_at = utcnow()
    session.add(issue)


# --- sections ----------------------------------------------------------------------------


def get_section(session: Session, *, issue: Issue, section_id: int) -> Section:
    section = session.get(Section, section_id)
    if section is None or section.issue_id != issue.id:
        raise NotFound(f"issue {issue.number} has no section {section_id}")
    return section


def sections_of(session: Session, *, issue_id: int) -> list[Section]:
    return list(
        session.scalars(
            select(Section)
            .where(Section.issue_id == issue_id)
            .order_by(Section.position, Section.id)
        )
    )


def add_section(
    session: Session, *, issue: Issue, data: SectionCreate, actor: Principal
) -> Section:
    """A new section at the end of the issue."""
    content_changed(session, issue=issue, actor=actor)
    check_user(session, user_id=data.owner_id, field="owner_id")
    position = len(sections_of(session, issue_id=issue.id))
    section = Section(
        issue_id=issue.id,
        title=data.title.strip(),
        theme=data.theme.strip().lower(),
        position=position,
        owner_id=data.owner_id,
        contribution_deadline=data.contribution_deadline,
    )
    session.add(section)
    session.flush()
    record(
        session,
        actor=actor,
        action="section.created",
        object_type="issue",
        object_id=issue.id,
        details={"section_id": section.id, "title": section.title},
    )
    return section


def update_section(
    session: Session, *, issue: Issue, section: Section, data: SectionUpdate, actor: Principal
) -> Section:
    """Rename, re-theme, assign an owner or a contribution deadline."""
    changes = data.model_dump(exclude_unset=True)
    content_changed(session, issue=issue, actor=actor)
    if changes.get("title") is not None:
        section.title = changes["title"].strip()
    if changes.get("theme") is not None:
        section.theme = changes["theme"].strip().lower()
    if "owner_id" in changes:
        check_user(session, user_id=changes["owner_id"], field="owner_id")
        section.owner_id = changes["owner_id"]
    if "contribution_deadline" in changes:
        section.contribution_deadline = changes["contribution_deadline"]
    session.add(section)
    session.flush()
    record(
        session,
        actor=actor,
        action="section.updated",
        object_type="issue",
        object_id=issue.id,
        details={"section_id": section.id, "fields": sorted(changes)},
    )
    return section


def delete_section(session: Session, *, issue: Issue, section: Section, actor: Principal) -> None:
    """Only an empty section goes: excerpts are never deleted as a side effect."""
    content_changed(session, issue=issue, actor=actor)
    if session.scalar(select(func.count()).where(Excerpt.section_id == section.id)):
        raise Conflict(f"section {section.title!r} still has excerpts; move or delete them first")
    record(
        session,
        actor=actor,
        action="section.deleted",
        object_type="issue",
        object_id=issue.id,
        details={"section_id": section.id, "title": section.title},
    )
    session.delete(section)
    session.flush()
    _renumber(sections_of(session, issue_id=issue.id))


def order_sections(session: Session, *, issue: Issue, ids: list[int], actor: Principal) -> None:
    """Put the sections in the given order; the list must name each exactly once."""
    content_changed(session, issue=issue, actor=actor)
    sections = {s.id: s for s in sections_of(session, issue_id=issue.id)}
    _check_permutation(ids, sections, what="section")
    _renumber([sections[i] for i in ids])
    record(
        session,
        actor=actor,
        action="issue.sections_reordered",
        object_type="issue",
        object_id=issue.id,
        details={"order": ids},
    )


# --- excerpts ----------------------------------------------------------------------------


def get_excerpt(session: Session, *, issue: Issue, excerpt_id: int) -> Excerpt:
    excerpt = session.get(Excerpt, excerpt_id)
    if excerpt is None or excerpt.issue_id != issue.id:
        raise NotFound(f"issue {issue.number} has no excerpt {excerpt_id}")
    return excerpt


def excerpts_in(session: Session, *, section_id: int) -> list[Excerpt]:
    return list(
        session.scalars(
            select(Excerpt)
            .where(Excerpt.section_id == section_id)
            .order_by(Excerpt.position, Excerpt.id)
        )
    )


def add_excerpt(
    session: Session, *, issue: Issue, data: ExcerptCreate, actor: Principal, is_recap: bool = False
) -> Excerpt:
    """An excerpt at the end of its section, from news items or written by hand.

    From news items, unset fields come from the first item and the bodies are copied in.
    Without a section, the excerpt goes to the section of its theme (made when missing).
    """
    content_changed(session, issue=issue, actor=actor)
    items = _news_items(session, data.news_item_ids)
    first = items[0] if items else None
    kind = data.kind or (first.kind if first else None)
    headline = data.headline or (first.title if first else None)
    if kind is None:
        raise Invalid("kind", "an excerpt written by hand needs a kind")
    if not headline:
        raise Invalid("headline", "an excerpt written by hand needs a headline")
    theme = (data.theme if data.theme is not None else (first.theme if first else "")).lower()
    body = data.body if data.body is not None else "\n\n".join(i.body_md for i in items)
    if len(body) > MAX_BODY:
        raise Invalid(
            "news_item_ids",
            f"together these items exceed {MAX_BODY} characters; pick fewer or write the body",
        )
    section = (
        get_section(session, issue=issue, section_id=data.section_id)
        if data.section_id is not None
        else _section_for_theme(session, issue, theme)
    )
    excerpt = Excerpt(
        issue_id=issue.id,
        section_id=section.id,
        position=len(excerpts_in(session, section_id=section.id)),
        kind=ExcerptKind(kind),
        theme=theme.strip(),
        headline=headline.strip(),
        body_md=body,
        body_html=render_markdown(body),
        cta_label=data.cta_label or ("Read more" if first and first.link else ""),
        cta_url=data.cta_url or (first.link or "" if first else ""),
        segment_filter=existing_segment_ids(session, data.segment_filter, field="segment_filter"),
        is_recap=is_recap,
    )
    session.add(excerpt)
    session.flush()
    for item in items:
        session.add(ExcerptSource(excerpt_id=excerpt.id, news_item_id=item.id))
    session.flush()
    record(
        session,
        actor=actor,
        action="excerpt.created",
        object_type="issue",
        object_id=issue.id,
        details={"excerpt_id": excerpt.id, "news_item_ids": [i.id for i in items]},
    )
    return excerpt


def update_excerpt(
    session: Session, *, issue: Issue, excerpt: Excerpt, data: ExcerptUpdate, actor: Principal
) -> Excerpt:
    """Edit an excerpt's text, kind, theme, call to action or segment filter."""
    changes = data.model_dump(exclude_unset=True)
    content_changed(session, issue=issue, actor=actor)
    for name in ("kind", "headline", "cta_label", "cta_url"):
        if changes.get(name) is not None:
            setattr(excerpt, name, changes[name].strip() if name != "kind" else changes[name])
    if changes.get("theme") is not None:
        excerpt.theme = changes["theme"].strip().lower()
    if changes.get("body") is not None:
        excerpt.body_md = changes["body"]
        excerpt.body_html = render_markdown(changes["body"])
    if changes.get("segment_filter") is not None:
        excerpt.segment_filter = existing_segment_ids(
            session, changes["segment_filter"], field="segment_filter"
        )
    excerpt.updated_at = utcnow()
    session.add(excerpt)
    session.flush()
    record(
        session,
        actor=actor,
        action="excerpt.updated",
        object_type="issue",
        object_id=issue.id,
        details={"excerpt_id": excerpt.id, "fields": sorted(changes)},
    )
    return excerpt


def move_excerpt(
    session: Session,
    *,
    issue: Issue,
    excerpt: Excerpt,
    section_id: int,
    position: int,
    actor: Principal,
) -> Excerpt:
    """Move an excerpt to a position in a section (of the same issue)."""
    content_changed(session, issue=issue, actor=actor)
    target = get_section(session, issue=issue, section_id=section_id)
    source_id = excerpt.section_id
    siblings = [e for e in excerpts_in(session, section_id=target.id) if e.id != excerpt.id]
    siblings.insert(min(position, len(siblings)), excerpt)
    excerpt.section_id = target.id
    _renumber(siblings)
    if source_id != target.id:
        _renumber(excerpts_in(session, section_id=source_id))
    record(
        session,
        actor=actor,
        action="excerpt.moved",
        object_type="issue",
        object_id=issue.id,
        details={"excerpt_id": excerpt.id, "section_id": target.id, "position": excerpt.position},
    )
    return excerpt


def order_excerpts(
    session: Session, *, issue: Issue, section: Section, ids: list[int], actor: Principal
) -> None:
    """Put a section's excerpts in the given order; the list must name each exactly once."""
    content_changed(session, issue=issue, actor=actor)
    excerpts = {e.id: e for e in excerpts_in(session, section_id=section.id)}
    _check_permutation(ids, excerpts, what="excerpt")
    _renumber([excerpts[i] for i in ids])
    record(
        session,
        actor=actor,
        action="section.excerpts_reordered",
        object_type="issue",
        object_id=issue.id,
        details={"section_id": section.id, "order": ids},
    )


def delete_excerpt(session: Session, *, issue: Issue, excerpt: Excerpt, actor: Principal) -> None:
    content_changed(session, issue=issue, actor=actor)
    section_id = excerpt.section_id
    record(
        session,
        actor=actor,
        action="excerpt.deleted",
        object_type="issue",
        object_id=issue.id,
        details={"excerpt_id": excerpt.id, "headline": excerpt.headline},
    )
    session.delete(excerpt)
    session.flush()
    _renumber(excerpts_in(session, section_id=section_id))


def put_framing(
    session: Session,
    *,
    issue: Issue,
    excerpt: Excerpt,
    segment_id: int,
    body: str,
    actor: Principal,
) -> ExcerptFraming:
    """Set the text one target segment reads instead of the default body."""
    content_changed(session, issue=issue, actor=actor)
    if segment_id not in target_segment_ids(session, issue_id=issue.id):
        raise Invalid("segment_id", f"segment {segment_id} is not a target of this issue")
    framing = session.scalar(
        select(ExcerptFraming).where(
            ExcerptFraming.excerpt_id == excerpt.id, ExcerptFraming.segment_id == segment_id
        )
    )
    if framing is None:
        framing = ExcerptFraming(excerpt_id=excerpt.id, segment_id=segment_id, body_md=body)
    framing.body_md = body
    framing.body_html = render_markdown(body)
    session.add(framing)
    session.flush()
    record(
        session,
        actor=actor,
        action="excerpt.framed",
        object_type="issue",
        object_id=issue.id,
        details={"excerpt_id": excerpt.id, "segment_id": segment_id},
    )
    return framing


def delete_framing(
    session: Session, *, issue: Issue, excerpt: Excerpt, segment_id: int, actor: Principal
) -> None:
    content_changed(session, issue=issue, actor=actor)
    framing = session.scalar(
        select(ExcerptFraming).where(
            ExcerptFraming.excerpt_id == excerpt.id, ExcerptFraming.segment_id == segment_id
        )
    )
    if framing is None:
        raise NotFound(f"excerpt {excerpt.id} has no framing for segment {segment_id}")
    session.delete(framing)
    session.flush()
    record(
        session,
        actor=actor,
        action="excerpt.framing_removed",
        object_type="issue",
        object_id=issue.id,
        details={"excerpt_id": excerpt.id, "segment_id": segment_id},
    )


# --- helpers -----------------------------------------------------------------------------


def _section_for_theme(session: Session, issue: Issue, theme: str) -> Section:
    for section in sections_of(session, issue_id=issue.id):
        if section.theme == theme:
            return section
    title = theme.strip().capitalize() or "News"
    section = Section(
        issue_id=issue.id,
        title=title,
        theme=theme,
        position=len(sections_of(session, issue_id=issue.id)),
    )
    session.add(section)
    session.flush()
    return section


def _news_items(session: Session, ids: list[int]) -> list[NewsItem]:
    if len(set(ids)) != len(ids):
        raise Invalid("news_item_ids", "a news item is named twice")
    found = {i.id: i for i in session.scalars(select(NewsItem).where(NewsItem.id.in_(ids)))}
    for index, item_id in enumerate(ids):
        if item_id not in found:
            raise Invalid(f"news_item_ids.{index}", f"news item {item_id} does not exist")
        if found[item_id].archived_at is not None:
            raise Invalid(f"news_item_ids.{index}", f"news item {item_id} is archived")
    return [found[i] for i in ids]


def existing_segment_ids(session: Session, ids: list[int], *, field: str) -> list[int]:
    known = set(session.scalars(select(Segment.id).where(Segment.id.in_(ids))))
    for index, segment_id in enumerate(ids):
        if segment_id not in known:
            raise Invalid(f"{field}.{index}", f"segment {segment_id} does not exist")
    return sorted(set(ids))


def check_user(session: Session, *, user_id: int | None, field: str) -> None:
    if user_id is not None and session.get(User, user_id) is None:
        raise Invalid(field, f"user {user_id} does not exist")


def _check_permutation(ids: list[int], existing: dict, *, what: str) -> None:
    if sorted(ids) != sorted(existing):
        raise Invalid("ids", f"name every {what} of the list exactly once: {sorted(existing)}")


def _renumber(rows: list) -> None:
    for position, row in enumerate(rows):
        row.position = position


def today() -> date:
    return utcnow().date()
