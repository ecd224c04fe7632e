"""Sent issues for archive tests, and a check that an HTML text has nothing that could run."""

from datetime import UTC, date, datetime
from html.parser import HTMLParser

from sqlmodel import Session

from app.accounts.principal import CLI_PRINCIPAL
from app.delivery.models import RunState, SendRun
from app.issues import service as issues
from app.issues.models import ExcerptCreate, Issue, IssueCreate, IssueStatus


def mark_sent(engine, issue_id: int, *, finished_at: datetime) -> None:
    """What the delivery engine leaves behind: the issue sent, its run done."""
    with Session(engine) as db:
        issue = db.get(Issue, issue_id)
        issue.status = IssueStatus.sent
        db.add(issue)
        db.add(SendRun(issue_id=issue_id, state=RunState.done, finished_at=finished_at))
        db.commit()


def sent_issue(
    engine, *, title: str, headline: str, body: str, finished_at: datetime, segment_ids=()
) -> int:
    with Session(engine) as db:
        issue = issues.create(
            db,
            actor=CLI_PRINCIPAL,
            data=IssueCreate(
                title=title, planned_date=finished_at.date(), segment_ids=list(segment_ids)
            ),
        )
        issues.add_excerpt(
            db,
            issue=issue,
            actor=CLI_PRINCIPAL,
            data=ExcerptCreate(kind="win", headline=headline, body=body),
        )
        db.commit()
        issue_id = issue.id
    mark_sent(engine, issue_id, finished_at=finished_at)
    return issue_id


def bare_sent_issues(engine, count: int) -> list[int]:
    """Many sent issues without content, fast: for paging."""
    with Session(engine) as db:
        rows = [
            Issue(number=1000 + i, title=f"Bulletin {i}", planned_date=date(2026, 1, 1))
            for i in range(count)
        ]
        db.add_all(rows)
        db.commit()
        ids = [r.id for r in rows]
    for i, issue_id in enumerate(ids):
        mark_sent(engine, issue_id, finished_at=datetime(2026, 1, 1 + i % 28, i // 28, tzinfo=UTC))
    return ids


class _Inspector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "iframe", "object", "embed"):
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"{tag} {name}")
            if name in ("href", "src", "action") and (value or "").strip().lower().startswith(
                ("javascript:", "data:text")
            ):
                self.found.append(f"{tag} {name}={value}")


def executable_parts(html: str) -> list[str]:
    """Script elements, event handler attributes and javascript: URLs in an HTML text."""
    inspector = _Inspector()
    inspector.feed(html)
    inspector.close()
    return inspector.found
