"""Sending in the studio: send with a confirmation naming the audience size, live progress
in a fragment that polls itself every 2 s until the send is over, pause, resume, cancel.

The same service calls as the API (app/delivery/api.py); the job is queued after the
response, so after the commit.
"""

from fastapi import BackgroundTasks, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import or_
from sqlmodel import Session

from app.accounts.principal import ISSUES_APPROVE
from app.delivery import service as sending
from app.delivery.models import RunState, SendRun
from app.delivery.tasks import enqueue_send
from app.deps import SessionDep, StudioUser
from app.errors import NotFound
from app.issues import service as issues
from app.issues.models import Issue, IssueStatus
from app.segments import service as segments
from app.web.pages import require, studio_router
from app.web.templating import redirect, render

router = studio_router()
READ = "issues:read"
# While these last the fragment keeps polling; a paused send waits for a person.
ACTIVE = (RunState.freezing, RunState.running)
SENDABLE = (IssueStatus.approved, IssueStatus.scheduled)


@router.get("/issues/{issue_id}/sending", response_class=HTMLResponse)
def sending_page(request: Request, issue_id: int, session: SessionDep, ctx: StudioUser):
    require(ctx, READ, "read issues")
    context = {"user": ctx.user, **sending_context(session, issue_id=issue_id)}
    return render(request, "delivery/sending.html", context, fragment="delivery/_progress.html")


@router.get("/issues/{issue_id}/sending/progress", response_class=HTMLResponse)
def progress_fragment(request: Request, issue_id: int, session: SessionDep, ctx: StudioUser):
    require(ctx, READ, "read issues")
    context = {"user": ctx.user, **sending_context(session, issue_id=issue_id)}
    return render(request, "delivery/_progress.html", context)


@router.post("/issues/{issue_id}/send", response_class=HTMLResponse)
def send(
    request: Request,
    issue_id: int,
    session: SessionDep,
    ctx: StudioUser,
    background: BackgroundTasks,
) -> Response:
    require(ctx, ISSUES_APPROVE, "send issues")
    sending.start(session, issue=issues.get(session, issue_id=issue_id), actor=ctx.principal)
    copies = request.app.state.settings.send_tasks_per_issue
    background.add_task(enqueue_send, issue_id, copies=copies)
    return _answer(request, session, ctx, issue_id)


@router.post("/issues/{issue_id}/send/pause", response_class=HTMLResponse)
def pause(request: Request, issue_id: int, session: SessionDep, ctx: StudioUser) -> Response:
    require(ctx, ISSUES_APPROVE, "pause sends")
    sending.pause(session, run=_run(session, issue_id), actor=ctx.principal)
    return _answer(request, session, ctx, issue_id)


@router.post("/issues/{issue_id}/send/resume", response_class=HTMLResponse)
def resume(
    request: Request,
    issue_id: int,
    session: SessionDep,
    ctx: StudioUser,
    background: BackgroundTasks,
) -> Response:
    require(ctx, ISSUES_APPROVE, "resume sends")
    sending.resume(session, run=_run(session, issue_id), actor=ctx.principal)
    copies = request.app.state.settings.send_tasks_per_issue
    background.add_task(enqueue_send, issue_id, copies=copies)
    return _answer(request, session, ctx, issue_id)


@router.post("/issues/{issue_id}/send/cancel", response_class=HTMLResponse)
def cancel(request: Request, issue_id: int, session: SessionDep, ctx: StudioUser) -> Response:
    require(ctx, ISSUES_APPROVE, "cancel sends")
    issue = issues.get(session, issue_id=issue_id)
    sending.cancel(session, run=_run(session, issue_id), issue=issue, actor=ctx.principal)
    return _answer(request, session, ctx, issue_id)


def sending_context(session: Session, *, issue_id: int) -> dict:
    """What the sending panel shows: the run's progress, or the audience a send would reach."""
    issue = issues.get(session, issue_id=issue_id)
    run = sending.run_of(session, issue_id=issue.id)
    return {
        "issue": issue,
        "run": run,
        "progress": sending.progress(session, run=run) if run else None,
        "polling": run is not None and run.state in ACTIVE,
        "sendable": run is None and issue.status in SENDABLE,
        "audience_size": audience_size(session, issue=issue) if run is None else None,
    }


def audience_size(session: Session, *, issue: Issue) -> int:
    """The active members of any target segment, each once: who a send now would freeze."""
    ids = issues.target_segment_ids(session, issue_id=issue.id)
    targets = [segments.get(session, segment_id=i) for i in ids]
    if not targets:
        return 0
    clause = or_(*(segments.membership_clause(s) for s in targets))
    return segments.count(session, clause=clause).active_count


def _run(session: Session, issue_id: int) -> SendRun:
    run = sending.run_of(session, issue_id=issues.get(session, issue_id=issue_id).id)
    if run is None:
        raise NotFound(f"issue {issue_id} has not been sent")
    return run


def _answer(request: Request, session: Session, ctx, issue_id: int) -> Response:
    if request.headers.get("hx-request") != "true":
        return redirect(request, f"/studio/issues/{issue_id}/sending")
    session.flush()
    context = {"user": ctx.user, **sending_context(session, issue_id=issue_id)}
    return render(request, "delivery/_progress.html", context)
