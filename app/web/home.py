"""The studio's dashboard: the publishing calendar, what waits in the inbox, the last
issue's results and the audience."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select
from sqlmodel import Session

from app.accounts.models import User
from app.analytics import service as analytics
from app.db import utcnow
from app.deps import SessionDep, SettingsDep, StudioUser
from app.issues import calendar
from app.issues import service as issues
from app.news.models import NewsItem, NewsKind
from app.segments import service as segments
from app.segments.counts import segment_counts
from app.subscribers.models import Subscriber
from app.web.templating import render

router = APIRouter(prefix="/studio", include_in_schema=False)
UPCOMING = 4


@router.get("", response_class=HTMLResponse)
def home(request: Request, session: SessionDep, settings: SettingsDep, ctx: StudioUser):
    by_status = dict(
        session.execute(select(Subscriber.status, func.count()).group_by(Subscriber.status)).all()
    )
    listed = segments.list_all(session)
    counted = segment_counts(session, segments=listed)
    audience = [(segment, counted[segment.id]) for segment in listed]
    may_read_issues = ctx.principal.allows("issues:read")
    upcoming = calendar.overview(session, today=issues.today()).upcoming if may_read_issues else []
    last = []
    if ctx.principal.allows("stats:read"):
        min_cell, lag = settings.report_min_cell, analytics.STUDIO_LAG
        last = analytics.trend(session, last=1, min_cell=min_cell, lag=lag).issues
    return render(
        request,
        "studio/home.html",
        {
            "user": ctx.user,
            "by_status": by_status,
            "subscriber_total": sum(by_status.values()),
            "audience": audience,
            "counted_at": min((c.counted_at for _s, c in audience), default=None),
            "upcoming": upcoming[:UPCOMING],
            "owners": _owner_names(session, [i.owner_id for i in upcoming if i.owner_id]),
            "inbox": _inbox_counts(session) if may_read_issues else None,
            "last_issue": last[-1] if last else None,
            "results_lag": analytics.STUDIO_LAG.seconds,
        },
    )


def _inbox_counts(session: Session) -> dict[str, object]:
    """Unarchived news by kind, and how many of them are past their topicality window."""
    live = NewsItem.archived_at.is_(None)
    query = select(NewsItem.kind, func.count()).where(live).group_by(NewsItem.kind)
    by_kind = dict(session.execute(query).all())
    stale = session.scalar(
        select(func.count()).select_from(NewsItem).where(live, NewsItem.stale_at <= utcnow())
    )
    return {"by_kind": [(k.value, by_kind.get(k.value, 0)) for k in NewsKind], "stale": stale}


def _owner_names(session: Session, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.execute(select(User.id, User.name, User.email).where(User.id.in_(ids)))
    return {user_id: name or email for user_id, name, email in rows}
