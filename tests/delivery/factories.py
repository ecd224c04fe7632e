"""Small factories for delivery tests: an approved issue for given segments and people."""

from datetime import date

from sqlmodel import Session

from app.accounts.principal import CLI_PRINCIPAL
from app.issues import service as issues
from app.issues.models import ExcerptCreate, Issue, IssueCreate, IssueStatus
from app.segments.models import Segment, SegmentKind, SegmentMember
from app.subscribers.models import Subscriber, SubscriberStatus


def people(
    engine,
    count: int,
    *,
    prefix: str = "p",
    status=SubscriberStatus.active,
    attributes: dict | None = None,
) -> list[int]:
    with Session(engine) as db:
        rows = [
            Subscriber(
                email=f"{prefix}{i}@example.com",
                name=f"Person {prefix}{i}",
                status=status,
                attributes=attributes or {"department": "IT"},
            )
            for i in range(count)
        ]
        db.add_all(rows)
        db.commit()
        return [r.id for r in rows]


def static_segment(engine, name: str, member_ids: list[int]) -> int:
    with Session(engine) as db:
        segment = Segment(name=name, kind=SegmentKind.static)
        db.add(segment)
        db.flush()
        db.add_all([SegmentMember(segment_id=segment.id, subscriber_id=i) for i in member_ids])
        db.commit()
        return segment.id


def approved_issue(engine, segment_ids: list[int], *, title: str = "IT bulletin") -> int:
    with Session(engine) as db:
        issue = issues.create(
            db,
            actor=CLI_PRINCIPAL,
            data=IssueCreate(title=title, planned_date=date(2026, 12, 3), segment_ids=segment_ids),
        )
        issues.add_excerpt(
            db,
            issue=issue,
            actor=CLI_PRINCIPAL,
            data=ExcerptCreate(
                kind="win", headline="Mail is faster", body="Hello {first_name}, it is."
            ),
        )
        issues.add_excerpt(
            db,
            issue=issue,
            actor=CLI_PRINCIPAL,
            data=ExcerptCreate(kind="open_work", headline="Backlog", body="40 tickets wait."),
        )
        issue.status = IssueStatus.approved
        db.add(issue)
        db.commit()
        return issue.id


def issue_status(engine, issue_id: int) -> str:
    with Session(engine) as db:
        return db.get(Issue, issue_id).status
