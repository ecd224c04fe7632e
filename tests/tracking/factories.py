"""An issue with links, and the tracking URLs of the real message one subscriber gets."""

import email
import email.policy
import html
import re
from dataclasses import dataclass
from datetime import date

from sqlmodel import Session

from app.accounts.principal import CLI_PRINCIPAL
from app.issues import service as issues
from app.issues.models import ExcerptCreate, Issue, IssueCreate, IssueStatus
from app.subscribers.models import Subscriber
from app.tracking.models import TrackedLink
from app.tracking.tokens import Purpose

BASE = "http://testserver"
GUIDE = "https://wiki.example.com/mfa/enrol?step=1&lang=en"
PORTAL = "https://portal.example.com/start"
STATUS = "https://status.example.com/incidents/7"


def linked_issue(engine, segment_ids: list[int]) -> int:
    """An approved issue whose excerpts link out: in the body, as autolink, and a CTA."""
    with Session(engine) as db:
        issue = issues.create(
            db,
            actor=CLI_PRINCIPAL,
            data=IssueCreate(
                title="Links", planned_date=date(2026, 12, 3), segment_ids=segment_ids
            ),
        )
        issues.add_excerpt(
            db,
            issue=issue,
            actor=CLI_PRINCIPAL,
            data=ExcerptCreate(
                kind="win",
                headline="New sign-in",
                body=f"Read [the guide]({GUIDE}) or mail [us](mailto:it@example.com).",
                cta_label="Open the portal",
                cta_url=PORTAL,
            ),
        )
        issues.add_excerpt(
            db,
            issue=issue,
            actor=CLI_PRINCIPAL,
            data=ExcerptCreate(kind="incident", headline="Outage", body=f"See <{STATUS}>."),
        )
        issue.status = IssueStatus.approved
        db.add(issue)
        db.commit()
        return issue.id


@dataclass
class Message:
    html: str
    text: str
    pixel: str | None  # path of the open pixel
    clicks: dict[str, str]  # target URL -> path of its click redirect (from the HTML)


def message_for(app, engine, issue_id: int, subscriber_id: int) -> Message:
    """Render the real message (links registered and committed, as a send would)."""
    with Session(engine) as session:
        raw = app.state.renderer.message(
            session,
            issue=session.get(Issue, issue_id),
            subscriber=session.get(Subscriber, subscriber_id),
        )
        session.commit()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    body = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    pixel = re.search(r'<img src="http://testserver(/o/[^"]+\.gif)"', body)
    return Message(
        html=body,
        text=text,
        pixel=pixel.group(1) if pixel else None,
        clicks=_clicks(app, engine, body),
    )


def _clicks(app, engine, body: str) -> dict[str, str]:
    found = {}
    for href in re.findall(r'href="(http://testserver/c/[^"]+)"', body):
        path = html.unescape(href).removeprefix(BASE)
        _, link_id, _ = app.state.renderer.signer.read(Purpose.click, path.split("/")[2])
        with Session(engine) as session:
            found[session.get(TrackedLink, link_id).url] = path
    return found
