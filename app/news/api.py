"""JSON API for news items: /api/v1/news-items."""

from datetime import UTC
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from app.accounts.principal import Principal
from app.api_types import Cursor, IsoDatetime, PathId
from app.db import unit_of_work
from app.deps import ApiPrincipal, SessionDep, SettingsDep, require_scope
from app.errors import Forbidden
from app.news import intake, ratelimit
from app.news import service as news
from app.news.models import (
    NewsItemCreate,
    NewsItemDetail,
    NewsItemPublic,
    NewsItemRevisionPublic,
    NewsItemsPage,
    NewsItemUpdate,
    NewsKind,
)

router = APIRouter(prefix="/api/v1/news-items", tags=["news"])
Writer = Annotated[Principal, require_scope("news:write")]
READ_SCOPES = ("issues:read", "news:write")


def _reader(principal: ApiPrincipal) -> Principal:
    # Editors read the inbox to build issues; the posting services may read back their items.
    if not any(principal.allows(scope) for scope in READ_SCOPES):
        raise Forbidden(f"{principal.label} lacks the permission 'issues:read' or 'news:write'")
    return principal


Reader = Annotated[Principal, Depends(_reader)]


def _within_post_rate(request: Request, settings: SettingsDep, actor: Writer) -> Principal:
    # Counted in a transaction of its own: a refused post still counts, and the counter row
    # is not locked while the post is being processed.
    with unit_of_work(request.app.state.engine) as counter:
        ratelimit.hit(
            counter,
            key=f"news.post:{actor.kind}:{actor.id}",
            limit=settings.news_posts_per_minute,
        )
    return actor


Poster = Annotated[Principal, Depends(_within_post_rate)]


@router.post(
    "",
    response_model=NewsItemPublic,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": NewsItemPublic, "description": "Known already: updated or unchanged"}
    },
)
def post_news_item(
    data: NewsItemCreate,
    session: SessionDep,
    settings: SettingsDep,
    actor: Poster,
    response: Response,
):
    """Create a news item (201), or update the one with the same source and external_id (200).

    Posting the same payload again changes nothing; a changed payload updates the fields
    that changed since the source's last post and records a revision.
    """
    item, outcome = intake.receive(
        session, data=data, actor=actor, stale_after_days=settings.stale_after_days
    )
    response.status_code = status.HTTP_201_CREATED if outcome == "created" else status.HTTP_200_OK
    return item


@router.get("", response_model=NewsItemsPage)
def list_news_items(
    session: SessionDep,
    _: Reader,
    kind: Annotated[list[NewsKind], Query(description="Repeatable")] = [],  # noqa: B006
    theme: Annotated[str | None, Query(max_length=80)] = None,
    source: Annotated[str | None, Query(max_length=100)] = None,
    since: Annotated[IsoDatetime | None, Query(description="occurred_at on or after")] = None,
    stale: bool | None = None,
    archived: Annotated[bool, Query(description="true: only archived items")] = False,
    unused: Annotated[bool | None, Query(description="true: in no excerpt yet")] = None,
    cursor: Cursor | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> NewsItemsPage:
    """The inbox, newest first."""
    if since is not None and since.utcoffset() is None:
        since = since.replace(tzinfo=UTC)
    where = news.NewsFilter(
        kinds=tuple(kind),
        theme=theme,
        source=source,
        since=since,
        stale=stale,
        archived=archived,
        unused=unused,
    )
    rows, next_cursor = news.list_page(session, where=where, cursor=cursor, limit=limit)
    return NewsItemsPage(
        items=[NewsItemPublic.model_validate(r) for r in rows], next_cursor=next_cursor
    )


@router.get("/{news_item_id}", response_model=NewsItemDetail)
def get_news_item(news_item_id: PathId, session: SessionDep, _: Reader) -> NewsItemDetail:
    """One item with its revision history, newest first."""
    item = news.get(session, news_item_id=news_item_id)
    history = [NewsItemRevisionPublic.model_validate(r) for r in news.revisions(session, item=item)]
    return NewsItemDetail.model_validate({**item.model_dump(), "revisions": history})


@router.patch("/{news_item_id}", response_model=NewsItemPublic)
def update_news_item(
    news_item_id: PathId,
    data: NewsItemUpdate,
    session: SessionDep,
    settings: SettingsDep,
    actor: Writer,
):
    item = news.get(session, news_item_id=news_item_id)
    return news.update(
        session, item=item, data=data, actor=actor, stale_after_days=settings.stale_after_days
    )


@router.post("/{news_item_id}/archive", response_model=NewsItemPublic)
def archive_news_item(news_item_id: PathId, session: SessionDep, actor: Writer):
    return news.archive(session, item=news.get(session, news_item_id=news_item_id), actor=actor)
