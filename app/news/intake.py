"""What happens when a system posts a news item: store it, tell subscribers, flash incidents."""

from sqlmodel import Session

from app.accounts.principal import Principal
from app.issues import flash
from app.news import service as news
from app.news.models import NewsItem, NewsItemCreate
from app.news.service import Outcome
from app.webhooks import service as webhooks


def receive(
    session: Session, *, data: NewsItemCreate, actor: Principal, stale_after_days: dict[str, int]
) -> tuple[NewsItem, Outcome]:
    """Upsert the item; a new one fires `news_item.created`; incidents may open a flash."""
    item, outcome = news.upsert(session, data=data, actor=actor, stale_after_days=stale_after_days)
    if outcome == "created":
        webhooks.emit(
            session,
            event="news_item.created",
            payload={
                "news_item_id": item.id,
                "source": item.source,
                "external_id": item.external_id,
                "kind": item.kind,
                "theme": item.theme,
                "title": item.title,
                "occurred_at": item.occurred_at,
            },
        )
    if outcome != "unchanged":
        flash.react_to_news_item(session, item=item, actor=actor)
    return item, outcome
