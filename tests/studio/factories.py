"""Small factories through the services, with overridable defaults."""

from datetime import UTC, date, datetime, timedelta
from itertools import count

from sqlmodel import Session

from app.accounts.principal import CLI_PRINCIPAL
from app.issues import service as issues
from app.issues.models import Issue, IssueCreate
from app.news import service as news
from app.news.models import NewsItem, NewsItemCreate
from app.segments import service as segments
from app.segments.models import Segment, SegmentCreate
from app.subscribers import service as subscribers
from app.subscribers.models import Subscriber, SubscriberCreate
from tests.delivery.factories import approved_issue, people, static_segment

_serial = count(1)


def news_item(session: Session, **fields) -> NewsItem:
    values = {
        "source": "monitoring",
        "external_id": f"evt-{next(_serial)}",
        "title": "Mail delays resolved",
        "body": "Queue drained in **14 minutes**.",
        "kind": "win",
        "theme": "email",
        "occurred_at": datetime.now(UTC) - timedelta(days=1),
        **fields,
    }
    item, _ = news.upsert(
        session,
        data=NewsItemCreate.model_validate(values),
        actor=CLI_PRINCIPAL,
        stale_after_days={},
    )
    return item


def issue(session: Session, **fields) -> Issue:
    values = {"title": "Bulletin", "planned_date": date.today() + timedelta(days=7), **fields}
    return issues.create(session, data=IssueCreate.model_validate(values), actor=CLI_PRINCIPAL)


def subscriber(session: Session, **fields) -> Subscriber:
    values = {"email": f"person{next(_serial)}@example.com", "name": "A Person", **fields}
    return subscribers.create(
        session, data=SubscriberCreate.model_validate(values), actor=CLI_PRINCIPAL
    )


def segment(session: Session, name: str, rule: dict) -> Segment:
    return segments.create(session, data=SegmentCreate(name=name, rule=rule), actor=CLI_PRINCIPAL)


def an_approved_issue(engine) -> int:
    """An approved issue for one segment of three subscribers (schedule and send tests)."""
    return approved_issue(engine, [static_segment(engine, "Readers", people(engine, 3))])
