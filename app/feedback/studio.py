"""The studio's feedback inbox: what people sent through the public form."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.accounts.principal import FEEDBACK_READ
from app.deps import SessionDep, StudioUser
from app.errors import Forbidden
from app.feedback import service as feedback
from app.feedback.models import FeedbackStatus
from app.web.templating import render

router = APIRouter(prefix="/studio", include_in_schema=False)


@router.get("/feedback", response_class=HTMLResponse)
def inbox(
    request: Request,
    session: SessionDep,
    ctx: StudioUser,
    status: FeedbackStatus | None = None,
    before_id: int | None = None,
):
    if not ctx.principal.allows(FEEDBACK_READ):
        raise Forbidden("your role may not read the feedback inbox")
    rows, next_before_id = feedback.list_page(session, status=status, before_id=before_id)
    return render(
        request,
        "feedback/inbox.html",
        {
            "user": ctx.user,
            "submissions": rows,
            "status": status,
            "statuses": list(FeedbackStatus),
            "next_before_id": next_before_id,
        },
    )
