"""Sending an issue: start, pause, resume, cancel, and live progress."""

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Request, status

from app.accounts.principal import ISSUES_APPROVE, Principal
from app.api_types import PathId
from app.delivery import service as sending
from app.delivery.models import DeliveryProgress, SendRun
from app.delivery.tasks import enqueue_send
from app.deps import SessionDep, require_scope
from app.errors import NotFound
from app.issues import service as issues

router = APIRouter(prefix="/api/v1/issues/{issue_id}", tags=["delivery"])
Approver = Annotated[Principal, require_scope(ISSUES_APPROVE)]
Reader = Annotated[Principal, require_scope("issues:read")]


def _copies(request: Request) -> int:
    return request.app.state.settings.send_tasks_per_issue


def _run(session, issue_id: int) -> SendRun:
    run = sending.run_of(session, issue_id=issues.get(session, issue_id=issue_id).id)
    if run is None:
        raise NotFound(f"issue {issue_id} has not been sent")
    return run


@router.post("/send", response_model=DeliveryProgress, status_code=status.HTTP_202_ACCEPTED)
def send(
    issue_id: PathId,
    session: SessionDep,
    actor: Approver,
    background: BackgroundTasks,
    request: Request,
):
    """Send an approved issue now (a scheduled one goes at its time); a repeat is a no-op."""
    run = sending.start(session, issue=issues.get(session, issue_id=issue_id), actor=actor)
    # Runs after the response, so after the commit: the job finds the run it is given.
    background.add_task(enqueue_send, issue_id, copies=_copies(request))
    return sending.progress(session, run=run)


@router.get("/delivery", response_model=DeliveryProgress)
def delivery(issue_id: PathId, session: SessionDep, _: Reader):
    """Counts by state, the rate over the last minute and the time left at that rate."""
    return sending.progress(session, run=_run(session, issue_id))


@router.post("/send/pause", response_model=DeliveryProgress)
def pause(issue_id: PathId, session: SessionDep, actor: Approver):
    run = sending.pause(session, run=_run(session, issue_id), actor=actor)
    return sending.progress(session, run=run)


@router.post("/send/resume", response_model=DeliveryProgress)
def resume(
    issue_id: PathId,
    session: SessionDep,
    actor: Approver,
    background: BackgroundTasks,
    request: Request,
):
    run = sending.resume(session, run=_run(session, issue_id), actor=actor)
    background.add_task(enqueue_send, issue_id, copies=_copies(request))
    return sending.progress(session, run=run)


@router.post("/send/cancel", response_model=DeliveryProgress)
def cancel(issue_id: PathId, session: SessionDep, actor: Approver):
    issue = issues.get(session, issue_id=issue_id)
    run = sending.cancel(session, run=_run(session, issue_id), issue=issue, actor=actor)
    return sending.progress(session, run=run)
