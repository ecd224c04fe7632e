"""Sending in the studio: send with a confirmation naming the audience size, live progress
in a fragment that polls itself every 2 s until the send is over, pause, resume, cancel.
And the outbox: what the embedded Maildir transport "sent", listed and readable (admins).

The same service calls as the API (app/delivery/api.py, app/delivery/outbox.py); the job is
queued after the response, so after the commit.
"""

import math
import re
from typing import Annotated

from fastapi import BackgroundTasks, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from app.accounts.principal import ISSUES_APPROVE
from app.delivery import service as sending
from app.delivery.maildir import read_parts
from app.delivery.models import RunState, SendRun
from app.delivery.tasks import enqueue_send
from app.delivery.transports import MaildirTransport, SmtpTransport, transport_from_url
from app.deps import SessionDep, StudioUser
from app.errors import NotFound
from app.issues import service as issues
from app.issues.models import Issue, IssueStatus
from app.segments import service as segments
from app.segments.counts import audience_count
from app.web.pages import require, studio_router
from app.web.templating import redirect, render

router = studio_router()
READ = "issues:read"
# While these last the fragment keeps polling; a paused send waits for a person.
ACTIVE = (RunState.freezing, RunState.running)
SENDABLE = (IssueStatus.approved, IssueStatus.scheduled)
OUTBOX_PAGE_SIZE = 25
HEAD_TAG = re.compile(r"<head(\s[^>]*)?>", re.I)
REMOTE_IMAGE = re.compile(r"(<img\b[^>]*?)\ssrc\s*=(?=\s*[\"']?\s*(?:https?:)?//)", re.I)
# A stored message's HTML, framed by the outbox page in a sandbox without scripts. Nothing
# loads from elsewhere: a remote image would be the tracking pixel and count an open, so
# images show only when embedded; links open nothing (see _inert).
OUTBOX_HTML_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    "frame-ancestors 'self'; form-action 'none'; base-uri 'none'; sandbox",
    "X-Frame-Options": "SAMEORIGIN",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


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
    return audience_count(session, targets=targets).active_count


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


@router.get("/outbox", response_class=HTMLResponse)
def outbox_page(
    request: Request, ctx: StudioUser, page: Annotated[int, Query(ge=1, le=100_000)] = 1
):
    require(ctx, "admin", "read the outbox")
    transport = transport_from_url(request.app.state.settings.mail_url)
    context = {"user": ctx.user, "page": page, "where": mail_destination(transport)}
    if isinstance(transport, MaildirTransport):
        offset = (page - 1) * OUTBOX_PAGE_SIZE
        messages, total = transport.list_page(OUTBOX_PAGE_SIZE, offset=offset)
        context |= {
            "messages": messages,
            "total": total,
            "pages": max(1, math.ceil(total / OUTBOX_PAGE_SIZE)),
        }
    return render(request, "delivery/outbox.html", context, fragment="delivery/_outbox.html")


@router.get("/outbox/{key}", response_class=HTMLResponse)
def outbox_message(request: Request, key: str, ctx: StudioUser):
    require(ctx, "admin", "read the outbox")
    stored = read_parts(_stored(request, key))
    context = {"user": ctx.user, "key": key, "message": stored, "headers": dict(stored.headers)}
    return render(request, "delivery/outbox_message.html", context)


@router.get("/outbox/{key}/html", response_class=HTMLResponse)
def outbox_message_html(request: Request, key: str, ctx: StudioUser) -> Response:
    """The HTML part alone, for the sandboxed frame of the message page."""
    require(ctx, "admin", "read the outbox")
    html = read_parts(_stored(request, key)).html
    if html is None:
        raise NotFound(f"message {key!r} has no HTML part")
    return HTMLResponse(_inert(html), headers=OUTBOX_HTML_HEADERS)


def mail_destination(transport) -> str:
    """Where mail goes, in words, without any password."""
    if isinstance(transport, MaildirTransport):
        return f"the outbox folder {transport.path} on this server (nothing leaves it)"
    if isinstance(transport, SmtpTransport):
        security = {"tls": "TLS", "starttls": "STARTTLS", "plain": "no encryption"}
        how = security.get(transport.security, transport.security)
        return f"the SMTP relay {transport.host}:{transport.port} ({how})"
    return "a mail transport this page cannot show"


def _stored(request: Request, key: str) -> bytes:
    transport = transport_from_url(request.app.state.settings.mail_url)
    if not isinstance(transport, MaildirTransport):
        raise NotFound("mail goes out through SMTP here; there is no local outbox to show")
    try:
        return transport.read_message(key)
    except KeyError:
        raise NotFound(f"no message {key!r} in the outbox") from None


def _inert(html: str) -> str:
    """The HTML with nothing that would reach the tracking endpoints when shown."""
    # Remote images (the open pixel among them) lose their source, should the policy ever
    # not be enforced. Links would lead through the click redirect and count a click; aimed
    # at a new window, the sandbox (no allow-popups) opens none of them.
    html = REMOTE_IMAGE.sub(r"\1 data-blocked-src=", html)
    base = '<base target="_blank">'
    head = HEAD_TAG.search(html)
    if head is None:
        return base + html
    return html[: head.end()] + base + html[head.end() :]
