"""The feedback inbox over JSON: /api/v1/feedback (people with feedback:read / :triage)."""

from typing import Annotated

from fastapi import APIRouter, Query

from app.accounts.principal import FEEDBACK_READ, FEEDBACK_TRIAGE, Principal
from app.api_types import PathId, QueryId
from app.deps import SessionDep, require_scope
from app.feedback import service as feedback
from app.feedback.models import (
    FeedbackKind,
    FeedbackPage,
    FeedbackPublic,
    FeedbackStatus,
    FeedbackTriage,
)

router = APIRouter(prefix="/api/v1/feedback", tags=["feedback"])


@router.get("", response_model=FeedbackPage)
def list_feedback(
    session: SessionDep,
    _: Annotated[Principal, require_scope(FEEDBACK_READ)],
    status: FeedbackStatus | None = None,
    kind: FeedbackKind | None = None,
    before_id: QueryId | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
):
    """Newest first; page with ?before_id= the next_before_id of the previous page."""
    rows, next_before_id = feedback.list_page(
        session, status=status, kind=kind, before_id=before_id, limit=limit
    )
    return FeedbackPage(
        items=[FeedbackPublic.model_validate(r) for r in rows], next_before_id=next_before_id
    )


@router.patch("/{submission_id}", response_model=FeedbackPublic)
def triage_feedback(
    submission_id: PathId,
    data: FeedbackTriage,
    session: SessionDep,
    actor: Annotated[Principal, require_scope(FEEDBACK_TRIAGE)],
):
    """Accept, decline or mark done, with a note; the audit log keeps who and why."""
    submission = feedback.get(session, submission_id=submission_id)
    return feedback.triage(session, submission=submission, data=data, actor=actor)
