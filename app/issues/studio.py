"""Studio pages for issues: the list, and an issue's page with its content (move an excerpt
up or down, remove it), balance, workflow (submit, approve), preview (app/issues/preview.py)
and sending panel (app/delivery/studio.py).

Still to come: drag to reorder, inline editing, framings and segment filters, scheduling.
"""

from typing import Annotated

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from app.accounts.principal import ISSUES_APPROVE, ISSUES_WRITE
from app.delivery.studio import sending_context
from app.deps import SessionDep, StudioUser
from app.issues import overview, workflow
from app.issues import service as issues
from app.issues.models import IssueStatus
from app.segments import service as segments
from app.web.pages import require, studio_router
from app.web.templating import redirect, render

router = studio_router()
READ = "issues:read"
Reason = Annotated[str, Form(max_length=2000)]


@router.get("/issues", response_class=HTMLResponse)
def issue_list(
    request: Request,
    session: SessionDep,
    ctx: StudioUser,
    status: Annotated[str, Query(max_length=20)] = "",
):
    require(ctx, READ, "read issues")
    chosen = IssueStatus(status) if status in IssueStatus.__members__ else None
    rows = issues.list_issues(session, status=chosen, limit=100)
    context = {"user": ctx.user, "issues": rows, "status": status, "statuses": list(IssueStatus)}
    return render(request, "issues/list.html", context, fragment="issues/_rows.html")


@router.get("/issues/{issue_id}", response_class=HTMLResponse)
def issue_page(
    request: Request,
    issue_id: int,
    session: SessionDep,
    ctx: StudioUser,
    segment_id: Annotated[str, Query(max_length=12)] = "",
):
    """The issue; `segment_id` picks whose preview is shown (htmx asks for just that part)."""
    require(ctx, READ, "read issues")
    issue = issues.get(session, issue_id=issue_id)
    detail = overview.detail(session, issue=issue)
    names = {s.id: s.name for s in segments.list_all(session)}
    chosen = int(segment_id) if segment_id.isdigit() else None
    preview_for = chosen if chosen in detail.segment_ids else next(iter(detail.segment_ids), None)
    return render(
        request,
        "issues/page.html",
        {
            "user": ctx.user,
            "detail": detail,
            "segment_names": names,
            "preview_for": preview_for,
            **sending_context(session, issue_id=issue.id),
        },
        fragment="issues/_preview.html",
    )


@router.post("/issues/{issue_id}/excerpts/{excerpt_id}/move", response_class=HTMLResponse)
def move_excerpt(
    request: Request,
    issue_id: int,
    excerpt_id: int,
    session: SessionDep,
    ctx: StudioUser,
    position: Annotated[int, Form(ge=0, le=10_000)],
) -> Response:
    """The keyboard's way to reorder: one place up or down within its section."""
    require(ctx, ISSUES_WRITE, "compose issues")
    issue = issues.get(session, issue_id=issue_id)
    excerpt = issues.get_excerpt(session, issue=issue, excerpt_id=excerpt_id)
    direction = "up" if position < excerpt.position else "down"
    issues.move_excerpt(session, issue=issue, excerpt=excerpt, section_id=excerpt.section_id,
                        position=position, actor=ctx.principal)  # fmt: skip
    # The moved excerpt's button keeps the keyboard focus (htmx focuses `autofocus`).
    return _content(request, session, ctx, issue_id, moved=(excerpt.id, direction))


@router.post("/issues/{issue_id}/excerpts/{excerpt_id}/delete", response_class=HTMLResponse)
def delete_excerpt(
    request: Request, issue_id: int, excerpt_id: int, session: SessionDep, ctx: StudioUser
) -> Response:
    require(ctx, ISSUES_WRITE, "compose issues")
    issue = issues.get(session, issue_id=issue_id)
    excerpt = issues.get_excerpt(session, issue=issue, excerpt_id=excerpt_id)
    issues.delete_excerpt(session, issue=issue, excerpt=excerpt, actor=ctx.principal)
    return _content(request, session, ctx, issue_id)


def _content(
    request: Request, session, ctx, issue_id: int, moved: tuple[int, str] | None = None
) -> Response:
    if request.headers.get("hx-request") != "true":
        return redirect(request, f"/studio/issues/{issue_id}")
    session.flush()
    issue = issues.get(session, issue_id=issue_id)
    session.refresh(issue)
    context = {"user": ctx.user, "detail": overview.detail(session, issue=issue), "moved": moved}
    return render(request, "issues/_content.html", context)


@router.post("/issues/{issue_id}/submit")
def submit(
    request: Request, issue_id: int, session: SessionDep, ctx: StudioUser, reason: Reason = ""
) -> Response:
    require(ctx, ISSUES_WRITE, "submit issues")
    issue = issues.get(session, issue_id=issue_id)
    workflow.submit(session, issue=issue, actor=ctx.principal, override_reason=reason or None)
    return redirect(request, f"/studio/issues/{issue_id}")


@router.post("/issues/{issue_id}/approve")
def approve(
    request: Request, issue_id: int, session: SessionDep, ctx: StudioUser, reason: Reason = ""
) -> Response:
    require(ctx, ISSUES_APPROVE, "approve issues")
    issue = issues.get(session, issue_id=issue_id)
    workflow.approve(session, issue=issue, actor=ctx.principal, override_reason=reason or None)
    return redirect(request, f"/studio/issues/{issue_id}")
