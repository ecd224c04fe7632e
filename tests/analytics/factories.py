"""A sent issue with its frozen audience, and engagement events written as the tracking
endpoints would write them (a pseudonym per reader, the recipient's variant)."""

import hashlib
from datetime import timedelta

from sqlalchemy import select, update
from sqlmodel import Session

from app.accounts.principal import CLI_PRINCIPAL
from app.analytics.tallies import events_changed
from app.db import unit_of_work, utcnow
from app.delivery import service as sending
from app.delivery.models import Delivery, DeliveryState
from app.issues.models import Excerpt, Issue, IssueStatus
from app.tracking.models import EngagementEvent, ExcerptFeedback, TrackedLink
from tests.delivery.factories import approved_issue, people, static_segment


def sent_issue(
    engine, groups: dict[str, list[int]], *, title: str = "IT bulletin", make=None
) -> int:
    """An issue sent to static segments {name: member ids}, every message delivered an
    hour ago; `make(engine, segment_ids)` makes the approved issue (default: two excerpts)."""
    segment_ids = [static_segment(engine, name, members) for name, members in groups.items()]
    if make is None:
        issue_id = approved_issue(engine, segment_ids, title=title)
    else:
        issue_id = make(engine, segment_ids)
    with unit_of_work(engine) as session:
        issue = session.get(Issue, issue_id)
        run = sending.start(session, issue=issue, actor=CLI_PRINCIPAL)
        sending.freeze_audience(session, run=run)
        session.execute(
            update(Delivery)
            .where(Delivery.issue_id == issue_id)
            .values(state=DeliveryState.sent, last_code=250, sent_at=utcnow() - timedelta(hours=1))
        )
        issue.status = IssueStatus.sent
        session.add(issue)
    return issue_id


def audience(engine, count: int, prefix: str) -> list[int]:
    return people(engine, count, prefix=prefix)


def set_state(engine, issue_id: int, subscriber_ids: list[int], state: str, code: int) -> None:
    with unit_of_work(engine) as session:
        session.execute(
            update(Delivery)
            .where(Delivery.issue_id == issue_id, Delivery.subscriber_id.in_(subscriber_ids))
            .values(state=state, last_code=code)
        )


def excerpt_ids(engine, issue_id: int) -> list[int]:
    with Session(engine) as session:
        return list(
            session.scalars(
                select(Excerpt.id).where(Excerpt.issue_id == issue_id).order_by(Excerpt.id)
            )
        )


def link(engine, issue_id: int, excerpt_id: int | None, url: str) -> int:
    with unit_of_work(engine) as session:
        row = TrackedLink(
            issue_id=issue_id,
            excerpt_id=excerpt_id,
            url=url,
            digest=hashlib.sha256(f"{excerpt_id or ''}|{url}".encode()).hexdigest(),
        )
        session.add(row)
        session.flush()
        return row.id


def reader(issue_id: int, subscriber_id: int) -> str:
    return hashlib.sha256(f"{issue_id}:{subscriber_id}".encode()).hexdigest()[:16]


def events(
    engine,
    issue_id: int,
    subscriber_ids: list[int],
    kind: str,
    *,
    machine: bool = False,
    link_id: int | None = None,
    days_ago: float = 1,
    individual: bool = False,
) -> None:
    """One event per subscriber, with the variant of their delivery row."""
    with unit_of_work(engine) as session:
        variants = dict(
            session.execute(
                select(Delivery.subscriber_id, Delivery.variant).where(
                    Delivery.issue_id == issue_id
                )
            ).all()
        )
        excerpt_id = session.get(TrackedLink, link_id).excerpt_id if link_id else None
        session.add_all(
            EngagementEvent(
                issue_id=issue_id,
                kind=kind,
                link_id=link_id,
                excerpt_id=excerpt_id,
                variant=variants[s],
                reader=None if individual else reader(issue_id, s),
                subscriber_id=s if individual else None,
                machine=machine,
                machine_reason="apple_mpp" if machine else "",
                occurred_at=utcnow() - timedelta(days=days_ago),
            )
            for s in subscriber_ids
        )
        # As the recorder does: the issue's stored summary is out of date.
        events_changed(session, [issue_id])


def votes(engine, issue_id: int, excerpt_id: int, *, useful: int, not_useful: int) -> None:
    with unit_of_work(engine) as session:
        session.add_all(
            ExcerptFeedback(issue_id=issue_id, excerpt_id=excerpt_id, useful=answer)
            for answer in [True] * useful + [False] * not_useful
        )
