"""Studio pages for issues: the list, and an issue's page with its content, balance,
workflow (submit, approve) and sending panel.

The editor (reordering, framings, preview, test send) is still to come; the page shows the
content read-only.
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
def issue_page(request: Request, issue_id: int, session: SessionDep, ctx: StudioUser):
    require(ctx, READ, "read issues")
    issue = issues.get(session, issue_id=issue_id)
    detail = overview.detail(session, issue=issue)
    names = {s.id: s.name for s in segments.list_all(session)}
    return render(
        request,
        "issues/page.html",
        {
            "user": ctx.user,
            "detail": detail,
            "segment_names": names,
            **sending_context(session, issue_id=issue.id),
        },
    )


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
