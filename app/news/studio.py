"""The studio inbox: news items to filter, flag as stale, add to an issue, or write by hand.

Views parse, call the services the API calls (news.list_page, intake.receive,
issues.add_excerpt) and render; the filter lives in the query string, so a view is a URL.
"""

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlmodel import Session

from app.accounts.principal import ISSUES_WRITE
from app.db import utcnow
from app.deps import SessionDep, SettingsDep, StudioUser
from app.errors import DomainError
from app.issues import service as issues
from app.issues.models import (
    Excerpt,
    ExcerptCreate,
    ExcerptSource,
    Issue,
    IssueKind,
    IssueStatus,
)
from app.news import intake
from app.news import service as news
from app.news.models import NewsItem, NewsItemCreate, NewsKind
from app.web.pages import require, require_any, studio_router
from app.web.templating import redirect, render

router = studio_router()
READ_SCOPES = ("issues:read", "news:write")  # as the API's inbox
PAGE_SIZE = 25
AGES = {"7": "last 7 days", "30": "last 30 days", "90": "last 90 days"}
STALENESS = {"fresh": False, "stale": True}
# Excerpts may be added while an issue is a draft or in review; an approved issue would
# silently go back to draft, so the inbox does not offer it.
OPEN_STATUSES = (IssueStatus.draft, IssueStatus.in_review)
# A hand-written item has no system behind it; its key only has to be unique.
HAND_WRITTEN_SOURCE = "studio"


@router.get("/inbox", response_class=HTMLResponse)
def inbox(
    request: Request,
    session: SessionDep,
    ctx: StudioUser,
    kind: Annotated[list[NewsKind], Query()] = [],  # noqa: B006
    theme: Annotated[str, Query(max_length=80)] = "",
    source: Annotated[str, Query(max_length=100)] = "",
    age: Annotated[str, Query(max_length=4)] = "",
    stale: Annotated[str, Query(max_length=5)] = "",
    cursor: Annotated[str | None, Query(max_length=100)] = None,
):
    require_any(ctx, READ_SCOPES, "read the inbox")
    where = news.NewsFilter(
        kinds=tuple(kind),
        theme=theme or None,
        source=source or None,
        since=utcnow() - timedelta(days=int(age)) if age in AGES else None,
        stale=STALENESS.get(stale),
    )
    items, next_cursor = news.list_page(session, where=where, cursor=cursor, limit=PAGE_SIZE)
    context = {
        "user": ctx.user,
        "items": items,
        "next_cursor": next_cursor,
        "cursor": cursor,
        "filters": {"kind": [k.value for k in kind], "theme": theme, "source": source,
                    "age": age, "stale": stale},
        "kinds": list(NewsKind),
        "themes": _distinct(session, NewsItem.theme),
        "sources": _distinct(session, NewsItem.source),
        "ages": AGES,
        "open_issues": _open_issues(session),
        "used_in": _used_in(session, [i.id for i in items]),
        "now": utcnow(),
    }  # fmt: skip
    return render(request, "news/inbox.html", context, fragment="news/_items.html")


@router.post("/inbox/{news_item_id}/add", response_class=HTMLResponse)
def add_to_issue(
    request: Request,
    news_item_id: int,
    session: SessionDep,
    ctx: StudioUser,
    issue_id: Annotated[int, Form()],
):
    require(ctx, ISSUES_WRITE, "compose issues")
    item = news.get(session, news_item_id=news_item_id)
    issue = issues.get(session, issue_id=issue_id)
    excerpt = issues.add_excerpt(
        session,
        issue=issue,
        data=ExcerptCreate(news_item_ids=[item.id]),
        actor=ctx.principal,
    )
    context = {"user": ctx.user, "item": item, "issue": issue, "excerpt": excerpt}
    if request.headers.get("hx-request") != "true":
        return redirect(request, "/studio/inbox")
    return render(request, "news/_added.html", context)


@router.get("/inbox/new", response_class=HTMLResponse)
def new_item_form(request: Request, ctx: StudioUser):
    require(ctx, "news:write", "write news items")
    values = {"kind": "win", "occurred_at": date.today().isoformat()}
    return _form(request, ctx, values=values, errors={})


@router.post("/inbox/new", response_class=HTMLResponse)
def write_item(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    ctx: StudioUser,
    title: Annotated[str, Form(max_length=1000)] = "",
    kind: Annotated[str, Form(max_length=20)] = "",
    theme: Annotated[str, Form(max_length=200)] = "",
    body: Annotated[str, Form(max_length=60_000)] = "",
    link: Annotated[str, Form(max_length=3000)] = "",
    occurred_at: Annotated[str, Form(max_length=40)] = "",
    valid_until: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    require(ctx, "news:write", "write news items")
    values = {"title": title, "kind": kind, "theme": theme, "body": body, "link": link,
              "occurred_at": occurred_at, "valid_until": valid_until}  # fmt: skip
    try:
        data = NewsItemCreate.model_validate(
            {
                **values,
                "source": HAND_WRITTEN_SOURCE,
                "external_id": uuid.uuid4().hex,
                "occurred_at": _as_datetime(occurred_at),
                "valid_until": _as_datetime(valid_until) if valid_until else None,
            }
        )
        item, _ = intake.receive(
            session, data=data, actor=ctx.principal, stale_after_days=settings.stale_after_days
        )
    except ValidationError as exc:
        errors = {str(e["loc"][0]): e["msg"].removeprefix("Value error, ") for e in exc.errors()}
        return _form(request, ctx, values=values, errors=errors, status_code=422)
    except DomainError as exc:
        errors = {e["field"]: e["reason"] for e in exc.errors} or {"title": exc.detail}
        return _form(request, ctx, values=values, errors=errors, status_code=exc.status)
    return redirect(request, f"/studio/inbox?source={HAND_WRITTEN_SOURCE}#item-{item.id}")


def _form(request: Request, ctx, *, values: dict, errors: dict, status_code: int = 200):
    return render(
        request,
        "news/new.html",
        {"user": ctx.user, "values": values, "errors": errors, "kinds": list(NewsKind)},
        status_code=status_code,
    )


def _as_datetime(value: str) -> str | datetime:
    # A date picker sends a day; the item then happened that day (at noon UTC, so the day
    # stays the same in every European time zone). Anything else is left to validation.
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return value
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


def _distinct(session: Session, column) -> list[str]:
    rows = session.scalars(select(column).where(column != "").distinct().order_by(column))
    return list(rows)[:200]


def _open_issues(session: Session) -> list[Issue]:
    query = (
        select(Issue)
        .where(Issue.status.in_(OPEN_STATUSES))
        # Regular issues first: the next bulletin is the one an editor usually means.
        .order_by(Issue.kind != IssueKind.regular, Issue.planned_date, Issue.number)
        .limit(20)
    )
    return list(session.scalars(query))


def _used_in(session: Session, item_ids: list[int]) -> dict[int, list[int]]:
    """Which issue numbers already hold an excerpt from each item on the page."""
    if not item_ids:
        return {}
    rows = session.execute(
        select(ExcerptSource.news_item_id, Issue.number)
        .join(Excerpt, Excerpt.id == ExcerptSource.excerpt_id)
        .join(Issue, Issue.id == Excerpt.issue_id)
        .where(ExcerptSource.news_item_id.in_(item_ids))
    )
    used: dict[int, list[int]] = {}
    for item_id, number in rows:
        used.setdefault(item_id, []).append(number)
    return used
