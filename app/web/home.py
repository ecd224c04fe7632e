"""The studio's start page: where the audience stands today."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select

from app.deps import SessionDep, StudioUser
from app.segments import service as segments
from app.subscribers.models import Subscriber
from app.web.templating import render

router = APIRouter(prefix="/studio", include_in_schema=False)


@router.get("", response_class=HTMLResponse)
def home(request: Request, session: SessionDep, ctx: StudioUser):
    by_status = dict(
        session.execute(select(Subscriber.status, func.count()).group_by(Subscriber.status)).all()
    )
    audience = [
        (segment, segments.count(session, clause=segments.membership_clause(segment)))
        for segment in segments.list_all(session)
    ]
    return render(
        request,
        "studio/home.html",
        {
            "user": ctx.user,
            "by_status": by_status,
            "subscriber_total": sum(by_status.values()),
            "audience": audience,
        },
    )
