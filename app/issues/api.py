"""JSON API for composing issues: /api/v1/issues and /api/v1/calendar.

Reading needs `issues:read`; composing `issues:write` (editors); approving, scheduling and
cancelling `issues:approve` (approvers). Content routes answer with the whole issue, so a
client sees the balance meter move with every change.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from app.accounts.principal import ISSUES_APPROVE, ISSUES_WRITE, Principal
from app.api_types import PathId
from app.deps import ApiPrincipal, SessionDep, require_scope
from app.errors import Forbidden
from app.issues import calendar, overview, workflow
from app.issues import service as issues
from app.issues.models import (
    Balance,
    CalendarPublic,
    CalendarUpdate,
    ExcerptCreate,
    ExcerptMove,
    ExcerptUpdate,
    FramingPut,
    IssueCreate,
    IssueDetail,
    IssueKind,
    IssueStatus,
    IssueSummary,
    IssueUpdate,
    Ordering,
    Override,
    ReturnToDraft,
    ScheduleRequest,
    SectionCreate,
    SectionUpdate,
)
from app.issues.suggestions import Suggestion, suggestions

router = APIRouter(prefix="/api/v1", tags=["issues"])
Reader = Annotated[Principal, require_scope("issues:read")]
Editor = Annotated[Principal, require_scope(ISSUES_WRITE)]
Approver = Annotated[Principal, require_scope(ISSUES_APPROVE)]
Admin = Annotated[Principal, require_scope("admin")]


def _editor_or_approver(principal: ApiPrincipal) -> Principal:
    if not (principal.allows(ISSUES_WRITE) or principal.allows(ISSUES_APPROVE)):
        raise Forbidden(f"{principal.label} may neither compose nor approve issues")
    return principal


EditorOrApprover = Annotated[Principal, Depends(_editor_or_approver)]


def _detail(session, issue) -> IssueDetail:
    return overview.detail(session, issue=issue)


@router.get("/issues", response_model=list[IssueSummary])
def list_issues(
    session: SessionDep,
    _: Reader,
    status_: Annotated[IssueStatus | None, Query(alias="status")] = None,
    kind: IssueKind | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
):
    return issues.list_issues(session, status=status_, kind=kind, limit=limit)


@router.post("/issues", response_model=IssueDetail, status_code=status.HTTP_201_CREATED)
def create_issue(data: IssueCreate, session: SessionDep, actor: Editor):
    return _detail(session, issues.create(session, data=data, actor=actor))


@router.get("/issues/{issue_id}", response_model=IssueDetail)
def get_issue(issue_id: PathId, session: SessionDep, _: Reader):
    return _detail(session, issues.get(session, issue_id=issue_id))


@router.patch("/issues/{issue_id}", response_model=IssueDetail)
def update_issue(issue_id: PathId, data: IssueUpdate, session: SessionDep, actor: Editor):
    issue = issues.get(session, issue_id=issue_id)
    return _detail(session, issues.update(session, issue=issue, data=data, actor=actor))


@router.get("/issues/{issue_id}/balance", response_model=Balance)
def get_balance(issue_id: PathId, session: SessionDep, _: Reader):
    """Wins, open work and other kinds, overall and per target segment; stale excerpts."""
    return overview.balance(session, issue=issues.get(session, issue_id=issue_id))


@router.get("/issues/{issue_id}/suggestions", response_model=list[Suggestion])
def get_suggestions(issue_id: PathId, session: SessionDep, _: Reader):
    """News items worth an excerpt: recaps, open work that got done, fresh news."""
    return suggestions(session, issue=issues.get(session, issue_id=issue_id))


# --- sections ----------------------------------------------------------------------------


@router.post(
    "/issues/{issue_id}/sections", response_model=IssueDetail, status_code=status.HTTP_201_CREATED
)
def add_section(issue_id: PathId, data: SectionCreate, session: SessionDep, actor: Editor):
    issue = issues.get(session, issue_id=issue_id)
    issues.add_section(session, issue=issue, data=data, actor=actor)
    return _detail(session, issue)


@router.put("/issues/{issue_id}/sections/order", response_model=IssueDetail)
def order_sections(issue_id: PathId, data: Ordering, session: SessionDep, actor: Editor):
    issue = issues.get(session, issue_id=issue_id)
    issues.order_sections(session, issue=issue, ids=data.ids, actor=actor)
    return _detail(session, issue)


# {section_id:int}: /sections/order shares the prefix; a wrong method on it is a 405.
@router.patch("/issues/{issue_id}/sections/{section_id:int}", response_model=IssueDetail)
def update_section(
    issue_id: PathId, section_id: PathId, data: SectionUpdate, session: SessionDep, actor: Editor
):
    issue = issues.get(session, issue_id=issue_id)
    section = issues.get_section(session, issue=issue, section_id=section_id)
    issues.update_section(session, issue=issue, section=section, data=data, actor=actor)
    return _detail(session, issue)


@router.delete("/issues/{issue_id}/sections/{section_id:int}", response_model=IssueDetail)
def delete_section(issue_id: PathId, section_id: PathId, session: SessionDep, actor: Editor):
    issue = issues.get(session, issue_id=issue_id)
    section = issues.get_section(session, issue=issue, section_id=section_id)
    issues.delete_section(session, issue=issue, section=section, actor=actor)
    return _detail(session, issue)


@router.put("/issues/{issue_id}/sections/{section_id}/order", response_model=IssueDetail)
def order_excerpts(
    issue_id: PathId, section_id: PathId, data: Ordering, session: SessionDep, actor: Editor
):
    issue = issues.get(session, issue_id=issue_id)
    section = issues.get_section(session, issue=issue, section_id=section_id)
    issues.order_excerpts(session, issue=issue, section=section, ids=data.ids, actor=actor)
    return _detail(session, issue)


# --- excerpts ----------------------------------------------------------------------------


@router.post(
    "/issues/{issue_id}/excerpts", response_model=IssueDetail, status_code=status.HTTP_201_CREATED
)
def add_excerpt(issue_id: PathId, data: ExcerptCreate, session: SessionDep, actor: Editor):
    """From news items (`news_item_ids`) or by hand (`kind`, `headline`, `body`)."""
    issue = issues.get(session, issue_id=issue_id)
    issues.add_excerpt(session, issue=issue, data=data, actor=actor)
    return _detail(session, issue)


@router.patch("/issues/{issue_id}/excerpts/{excerpt_id}", response_model=IssueDetail)
def update_excerpt(
    issue_id: PathId, excerpt_id: PathId, data: ExcerptUpdate, session: SessionDep, actor: Editor
):
    issue = issues.get(session, issue_id=issue_id)
    excerpt = issues.get_excerpt(session, issue=issue, excerpt_id=excerpt_id)
    issues.update_excerpt(session, issue=issue, excerpt=excerpt, data=data, actor=actor)
    return _detail(session, issue)


@router.post("/issues/{issue_id}/excerpts/{excerpt_id}/move", response_model=IssueDetail)
def move_excerpt(
    issue_id: PathId, excerpt_id: PathId, data: ExcerptMove, session: SessionDep, actor: Editor
):
    issue = issues.get(session, issue_id=issue_id)
    excerpt = issues.get_excerpt(session, issue=issue, excerpt_id=excerpt_id)
    issues.move_excerpt(
        session,
        issue=issue,
        excerpt=excerpt,
        section_id=data.section_id,
        position=data.position,
        actor=actor,
    )
    return _detail(session, issue)


@router.delete("/issues/{issue_id}/excerpts/{excerpt_id}", response_model=IssueDetail)
def delete_excerpt(issue_id: PathId, excerpt_id: PathId, session: SessionDep, actor: Editor):
    issue = issues.get(session, issue_id=issue_id)
    excerpt = issues.get_excerpt(session, issue=issue, excerpt_id=excerpt_id)
    issues.delete_excerpt(session, issue=issue, excerpt=excerpt, actor=actor)
    return _detail(session, issue)


@router.put(
    "/issues/{issue_id}/excerpts/{excerpt_id}/framings/{segment_id}", response_model=IssueDetail
)
def put_framing(
    issue_id: PathId,
    excerpt_id: PathId,
    segment_id: PathId,
    data: FramingPut,
    session: SessionDep,
    actor: Editor,
):
    """The text this segment reads instead of the default body (e.g. cost and risk for
    management, "what changes for you" for users)."""
    issue = issues.get(session, issue_id=issue_id)
    excerpt = issues.get_excerpt(session, issue=issue, excerpt_id=excerpt_id)
    issues.put_framing(
        session, issue=issue, excerpt=excerpt, segment_id=segment_id, body=data.body, actor=actor
    )
    return _detail(session, issue)


@router.delete(
    "/issues/{issue_id}/excerpts/{excerpt_id}/framings/{segment_id}", response_model=IssueDetail
)
def delete_framing(
    issue_id: PathId, excerpt_id: PathId, segment_id: PathId, session: SessionDep, actor: Editor
):
    issue = issues.get(session, issue_id=issue_id)
    excerpt = issues.get_excerpt(session, issue=issue, excerpt_id=excerpt_id)
    issues.delete_framing(session, issue=issue, excerpt=excerpt, segment_id=segment_id, actor=actor)
    return _detail(session, issue)


# --- workflow ----------------------------------------------------------------------------


@router.post("/issues/{issue_id}/submit", response_model=IssueDetail)
def submit(issue_id: PathId, session: SessionDep, actor: Editor, data: Override | None = None):
    """Hand the issue to the approvers; unbalanced issues need `override_reason`."""
    issue = issues.get(session, issue_id=issue_id)
    reason = data.override_reason if data else None
    return _detail(
        session, workflow.submit(session, issue=issue, actor=actor, override_reason=reason)
    )


@router.post("/issues/{issue_id}/approve", response_model=IssueDetail)
def approve(issue_id: PathId, session: SessionDep, actor: Approver, data: Override | None = None):
    issue = issues.get(session, issue_id=issue_id)
    reason = data.override_reason if data else None
    return _detail(
        session, workflow.approve(session, issue=issue, actor=actor, override_reason=reason)
    )


@router.post("/issues/{issue_id}/schedule", response_model=IssueDetail)
def schedule(issue_id: PathId, data: ScheduleRequest, session: SessionDep, actor: Approver):
    issue = issues.get(session, issue_id=issue_id)
    return _detail(
        session, workflow.schedule(session, issue=issue, actor=actor, send_at=data.send_at)
    )


@router.post("/issues/{issue_id}/unschedule", response_model=IssueDetail)
def unschedule(issue_id: PathId, session: SessionDep, actor: Approver):
    issue = issues.get(session, issue_id=issue_id)
    return _detail(session, workflow.unschedule(session, issue=issue, actor=actor))


@router.post("/issues/{issue_id}/return-to-draft", response_model=IssueDetail)
def return_to_draft(
    issue_id: PathId,
    session: SessionDep,
    actor: EditorOrApprover,
    data: ReturnToDraft | None = None,
):
    """An approver sends it back with remarks, or an editor withdraws it from review."""
    issue = issues.get(session, issue_id=issue_id)
    comment = data.comment if data else ""
    return _detail(
        session, workflow.return_to_draft(session, issue=issue, actor=actor, comment=comment)
    )


@router.post("/issues/{issue_id}/cancel", response_model=IssueDetail)
def cancel(issue_id: PathId, session: SessionDep, actor: Approver):
    issue = issues.get(session, issue_id=issue_id)
    return _detail(session, workflow.cancel(session, issue=issue, actor=actor))


# --- calendar ----------------------------------------------------------------------------


@router.get("/calendar", response_model=CalendarPublic, tags=["calendar"])
def get_calendar(session: SessionDep, _: Reader):
    """The cadence and the issues planned from today on."""
    return calendar.overview(session, today=issues.today())


@router.put("/calendar", response_model=CalendarPublic, tags=["calendar"])
def update_calendar(data: CalendarUpdate, session: SessionDep, actor: Admin):
    """Change the cadence; the issues it calls for are planned at once."""
    return calendar.update(session, data=data, actor=actor, today=issues.today())


@router.post("/calendar/plan", response_model=CalendarPublic, tags=["calendar"])
def plan_calendar(session: SessionDep, actor: Editor):
    """Create the next planned issues the cadence calls for (idempotent)."""
    calendar.plan_ahead(session, actor=actor, today=issues.today())
    return calendar.overview(session, today=issues.today())
