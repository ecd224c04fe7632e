"""Studio pages for issues: the list, and an issue's page with its content (drag an excerpt
within or between sections, or move it up or down by keyboard; remove it), balance,
workflow (submit, approve, schedule, unschedule, return to draft, cancel), preview
(app/issues/preview.py), sending panel (app/delivery/studio.py) and, in place, an
excerpt's form and framings (app/issues/editor.py).
"""

from collections.abc import Callable
from typing import Annotated

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from app.accounts.principal import ISSUES_APPROVE, ISSUES_WRITE
from app.deps import SessionDep, StudioUser
from app.errors import Invalid
from app.issues import editor, workflow
from app.issues import service as issues
from app.issues.models import IssueStatus
from app.web.localtime import parse_local
from app.web.pages import require, require_any, studio_router
from app.web.templating import is_htmx, redirect, render

router = studio_router()
router.include_router(editor.router)  # under this router's /studio prefix and CSRF check
READ = "issues:read"
Reason = Annotated[str, Form(max_length=2000)]
# Which part of the page an htmx GET of the page's URL wants, by the id of its target.
FRAGMENTS = {"issue-content": "issues/_content.html", "issue-workflow": "issues/_workflow.html"}


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
    """The issue; `segment_id` picks whose preview is shown. htmx asks for one part: the
    preview (by default), the content or the workflow (by its target's id)."""
    require(ctx, READ, "read issues")
    issue = issues.get(session, issue_id=issue_id)
    target = request.headers.get("hx-target", "")
    # Only the page and the workflow show the audience size (a count over the segments).
    whole = not is_htmx(request) or target == "issue-workflow"
    context = (editor.page_context if whole else editor.content_context)(session, ctx, issue)
    chosen = int(segment_id) if segment_id.isdigit() else None
    if chosen in context["detail"].segment_ids:
        context["preview_for"] = chosen
    fragment = FRAGMENTS.get(target, "issues/_preview.html")
    return render(request, "issues/page.html", context, fragment=fragment)


@router.post("/issues/{issue_id}/excerpts/{excerpt_id}/move", response_class=HTMLResponse)
def move_excerpt(
    request: Request,
    issue_id: int,
    excerpt_id: int,
    session: SessionDep,
    ctx: StudioUser,
    position: Annotated[int, Form(ge=0, le=10_000)],
    section_id: Annotated[int | None, Form()] = None,
) -> Response:
    """A drop (`section_id` and `position` there) or the keyboard's one place up or down
    within the section; the same service call as the API's move."""
    require(ctx, ISSUES_WRITE, "compose issues")
    issue = issues.get(session, issue_id=issue_id)
    excerpt = issues.get_excerpt(session, issue=issue, excerpt_id=excerpt_id)
    status_before = issue.status
    target = excerpt.section_id if section_id is None else section_id
    direction = "up" if position < excerpt.position else "down"
    issues.move_excerpt(session, issue=issue, excerpt=excerpt, section_id=target,
                        position=position, actor=ctx.principal)  # fmt: skip
    # After Up or Down the moved excerpt's button keeps the keyboard focus (htmx focuses
    # `autofocus`); a drop was made with the mouse and leaves the focus alone.
    moved = (excerpt.id, direction) if section_id is None else None
    response = _content(request, session, ctx, issue_id, moved=moved)
    return editor.changed(response, status_before=status_before, issue=issue)


@router.post("/issues/{issue_id}/excerpts/{excerpt_id}/delete", response_class=HTMLResponse)
def delete_excerpt(
    request: Request, issue_id: int, excerpt_id: int, session: SessionDep, ctx: StudioUser
) -> Response:
    require(ctx, ISSUES_WRITE, "compose issues")
    issue = issues.get(session, issue_id=issue_id)
    excerpt = issues.get_excerpt(session, issue=issue, excerpt_id=excerpt_id)
    status_before = issue.status
    issues.delete_excerpt(session, issue=issue, excerpt=excerpt, actor=ctx.principal)
    response = _content(request, session, ctx, issue_id)
    return editor.changed(response, status_before=status_before, issue=issue)


def _content(
    request: Request, session, ctx, issue_id: int, moved: tuple[int, str] | None = None
) -> Response:
    if request.headers.get("hx-request") != "true":
        return redirect(request, f"/studio/issues/{issue_id}")
    session.flush()
    issue = issues.get(session, issue_id=issue_id)
    session.refresh(issue)
    context = editor.content_context(session, ctx, issue, moved=moved)
    return render(request, "issues/_content.html", context)


# --- workflow: each answer reloads the page; a refused step shows its reasons in place ---


@router.post("/issues/{issue_id}/submit")
def submit(
    request: Request, issue_id: int, session: SessionDep, ctx: StudioUser, reason: Reason = ""
) -> Response:
    require(ctx, ISSUES_WRITE, "submit issues")
    issue = issues.get(session, issue_id=issue_id)
    return _step(request, session, ctx, issue, {"reason": reason}, workflow.submit,
                 override_reason=reason or None)  # fmt: skip


@router.post("/issues/{issue_id}/approve")
def approve(
    request: Request, issue_id: int, session: SessionDep, ctx: StudioUser, reason: Reason = ""
) -> Response:
    require(ctx, ISSUES_APPROVE, "approve issues")
    issue = issues.get(session, issue_id=issue_id)
    return _step(request, session, ctx, issue, {"reason": reason}, workflow.approve,
                 override_reason=reason or None)  # fmt: skip


@router.post("/issues/{issue_id}/schedule")
def schedule(
    request: Request,
    issue_id: int,
    session: SessionDep,
    ctx: StudioUser,
    send_at: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """`send_at` from a datetime-local input, read in the configured time zone (the form
    names it)."""
    require(ctx, ISSUES_APPROVE, "schedule issues")
    issue = issues.get(session, issue_id=issue_id)
    values = {"send_at": send_at}
    try:
        moment = parse_local(send_at, request.app.state.settings.zone)
    except ValueError as exc:
        return _refused(request, session, ctx, issue, values, Invalid("send_at", str(exc)))
    return _step(request, session, ctx, issue, values, workflow.schedule, send_at=moment)


@router.post("/issues/{issue_id}/unschedule")
def unschedule(request: Request, issue_id: int, session: SessionDep, ctx: StudioUser) -> Response:
    require(ctx, ISSUES_APPROVE, "unschedule issues")
    issue = issues.get(session, issue_id=issue_id)
    return _step(request, session, ctx, issue, {}, workflow.unschedule)


@router.post("/issues/{issue_id}/return-to-draft")
def return_to_draft(
    request: Request, issue_id: int, session: SessionDep, ctx: StudioUser, comment: Reason = ""
) -> Response:
    """An approver sends it back with remarks, or an editor withdraws it."""
    require_any(ctx, (ISSUES_WRITE, ISSUES_APPROVE), "return issues to draft")
    issue = issues.get(session, issue_id=issue_id)
    return _step(request, session, ctx, issue, {"comment": comment}, workflow.return_to_draft,
                 comment=comment.strip())  # fmt: skip


@router.post("/issues/{issue_id}/cancel")
def cancel(request: Request, issue_id: int, session: SessionDep, ctx: StudioUser) -> Response:
    require(ctx, ISSUES_APPROVE, "cancel issues")
    issue = issues.get(session, issue_id=issue_id)
    return _step(request, session, ctx, issue, {}, workflow.cancel)


def _step(request: Request, session, ctx, issue, values: dict, step: Callable, **arguments):
    """Take a workflow step and reload the page. Invalid input (no reason for an unbalanced
    issue, a time in the past) shows the workflow again with the reasons; a step the status
    does not allow raises Conflict (409 with its reason). Either way nothing changed."""
    try:
        step(session, issue=issue, actor=ctx.principal, **arguments)
    except Invalid as exc:
        session.rollback()
        return _refused(request, session, ctx, issue, values, exc)
    return redirect(request, f"/studio/issues/{issue.id}")


def _refused(request: Request, session, ctx, issue, values: dict, exc: Invalid) -> Response:
    errors = {e["field"]: e["reason"] for e in exc.errors}
    context = editor.page_context(session, ctx, issue, workflow_values=values,
                                  workflow_errors=errors)  # fmt: skip
    return render(request, "issues/page.html", context, fragment="issues/_workflow.html",
                  status_code=422)  # fmt: skip
