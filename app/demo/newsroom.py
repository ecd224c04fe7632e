"""Demo news and the next bulletin in the making, so a newcomer lands in a living studio."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlmodel import Session

from app.accounts.principal import SYSTEM_PRINCIPAL
from app.config import DEFAULT_STALE_AFTER_DAYS
from app.issues import calendar
from app.issues import service as issues
from app.issues.models import ExcerptCreate
from app.news import intake
from app.news.models import NewsItemCreate
from app.segments.models import Segment

# (source, external id, kind, theme, title, body, days ago, suggested segments)
NEWS = [
    (
        "monitoring",
        "INC-2031",
        "win",
        "email",
        "Mail delays resolved in 14 minutes",
        "The mail queue backed up after a certificate renewal; on-call drained it in "
        "**14 minutes** and added an alert so it cannot happen silently again.",
        2,
        ["All staff"],
    ),
    (
        "ticketing",
        "Q-LIC-7",
        "open_work",
        "licensing",
        "Backlog of licence requests",
        "**63** licence requests wait longer than five days. Two people from the service desk "
        "help the licence team until the queue is under 20.",
        3,
        ["Budget holders", "Key users"],
    ),
    (
        "sam-tool",
        "AUDIT-2026",
        "win",
        "licensing",
        "Vendor audit closed without findings",
        "The yearly audit of our database licences closed with **no back payment**; last time "
        "it cost 180,000 EUR.",
        5,
        ["Top management", "Budget holders"],
    ),
    (
        "security",
        "RISK-VPN",
        "risk",
        "security",
        "Old VPN client loses support in January",
        "About **400 laptops** still run the old client. Without the update they cannot connect "
        "from 15 January.",
        1,
        ["All staff"],
    ),
    (
        "cmdb",
        "OPP-TEAMS",
        "opportunity",
        "collaboration",
        "Room booking in Teams",
        "Key users can pilot booking meeting rooms from Teams before everyone gets it.",
        4,
        ["Key users"],
    ),
    (
        "ci-cd",
        "REL-412",
        "info",
        "service desk",
        "New self-service portal release",
        "Password resets now take three clicks; the old form redirects to the portal.",
        6,
        ["All staff"],
    ),
    (
        "monitoring",
        "INC-2044",
        "incident",
        "network",
        "Wi-Fi outage in Hamburg, floor 2",
        "Access points on floor 2 are down; wired ports work. Next update at 14:00.",
        0,
        ["All staff"],
    ),
    (
        "ticketing",
        "Q-OLD-1",
        "open_work",
        "service desk",
        "Printer driver rollout",
        "The new driver package reached 70 % of the sites.",
        140,
        ["All staff"],
    ),
]


def load(session: Session) -> None:
    """Post the demo news, plan the calendar and start the next issue with a few excerpts."""
    segment_ids = dict(session.execute(select(Segment.name, Segment.id)).all())
    now = datetime.now(UTC)
    items = {}
    for source, external_id, kind, theme, title, body, days_ago, audience in NEWS:
        item, _ = intake.receive(
            session,
            actor=SYSTEM_PRINCIPAL,
            stale_after_days=DEFAULT_STALE_AFTER_DAYS,
            data=NewsItemCreate(
                source=source,
                external_id=external_id,
                kind=kind,
                theme=theme,
                title=title,
                body=body,
                occurred_at=now - timedelta(days=days_ago),
                suggested_segments=[a for a in audience if a in segment_ids],
                flash=kind == "incident",
            ),
        )
        items[external_id] = item
    setting = calendar.current(session)
    setting.default_segment_ids = sorted(
        segment_ids[n] for n in ("Top management", "All staff") if n in segment_ids
    )
    session.add(setting)
    [next_issue, *_] = calendar.plan_ahead(session, actor=SYSTEM_PRINCIPAL, today=now.date())
    for external_id in ("AUDIT-2026", "Q-LIC-7", "INC-2031"):
        issues.add_excerpt(
            session,
            issue=next_issue,
            actor=SYSTEM_PRINCIPAL,
            data=ExcerptCreate(news_item_ids=[items[external_id].id]),
        )
