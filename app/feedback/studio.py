"""The studio's feedback inbox: what people sent through the public form, filtered by status
and kind in the URL, and triaged in place (status and an internal note) by people with
feedback:triage, through the service the API's PATCH /api/v1/feedback/{id} calls."""

from typing import Annotated

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from app.accounts.principal import FEEDBACK_READ, FEEDBACK_TRIAGE
from app.deps import SessionDep, StudioUser
from app.errors import Invalid
from app.feedback import service as feedback
from app.feedback.models import FeedbackKind, FeedbackStatus, FeedbackTriage
from app.web.pages import require, studio_router
from app.web.templating import is_htmx, redirect, render

router = studio_router()
PAGE_SIZE = 25
STATUSES = list(FeedbackStatus)


@router.get("/feedback", response_class=HTMLResponse)
def inbox(
    request: Request,
    session: SessionDep,
    ctx: StudioUser,
    status: Annotated[str, Query(max_length=20)] = "",
    kind: Annotated[str, Query(max_length=20)] = "",
    before_id: int | None = None,
):
    require(ctx, FEEDBACK_READ, "read the feedback inbox")
    chosen_status = _choice(FeedbackStatus, "status", status)
    chosen_kind = _choice(FeedbackKind, "kind", kind)
    rows, next_before_id = feedback.list_page(
        session, status=chosen_status, kind=chosen_kind, before_id=before_id, limit=PAGE_SIZE
    )
    context = {
        "user": ctx.user,
        "submissions": rows,
        "filters": {"status": status, "kind": kind},
        "before_id": before_id,
        "next_before_id": next_before_id,
        "counts": feedback.count_by_status(session),
        "statuses": STATUSES,
        "kinds": list(FeedbackKind),
    }
    return render(request, "feedback/inbox.html", context, fragment="feedback/_items.html")


@router.post("/feedback/{submission_id}", response_class=HTMLResponse)
def triage(
    request: Request,
    submission_id: int,
    session: SessionDep,
    ctx: StudioUser,
    status: Annotated[str, Form(max_length=20)] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    """Set the status and note; answers the item again (htmx) or goes back to the inbox."""
    require(ctx, FEEDBACK_TRIAGE, "triage feedback")
    submission = feedback.get(session, submission_id=submission_id)
    try:
        data = FeedbackTriage(status=status, note=note)
    except ValidationError as exc:
        errors = {str(e["loc"][0]): _reason(e) for e in exc.errors()}
        context = {"user": ctx.user, "item": submission, "statuses": STATUSES,
                   "errors": errors, "values": {"status": status, "note": note}}  # fmt: skip
        return render(request, "feedback/_item.html", context, status_code=422)
    feedback.triage(session, submission=submission, data=data, actor=ctx.principal)
    if not is_htmx(request):
        return redirect(request, f"/studio/feedback#feedback-{submission.id}")
    context = {"user": ctx.user, "item": submission, "statuses": STATUSES, "saved": True}
    return render(request, "feedback/_item.html", context)


def _choice(enum, field: str, value: str):
    """'' means any; anything else must be one of the enum's values (a readable 422)."""
    if not value:
        return None
    try:
        return enum(value)
    except ValueError:
        raise Invalid(field, f"choose one of: {', '.join(e.value for e in enum)}") from None


def _reason(error: dict) -> str:
    if error["type"] == "enum":
        return f"choose one of: {', '.join(STATUSES)}"
    if error["type"] == "string_too_long":
        return f"at most {error['ctx']['max_length']} characters"
    return error.get("msg", "invalid")
