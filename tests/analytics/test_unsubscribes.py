"""Unsubscribing through an issue's email counts for that issue, as the privacy mode says."""

import email
import email.policy
import re

from sqlalchemy import select
from sqlmodel import Session

from app.accounts.principal import CLI_PRINCIPAL
from app.db import unit_of_work
from app.issues.models import Issue
from app.subscribers.models import Subscriber
from app.tracking import service as tracking
from app.tracking.models import EngagementEvent, PrivacyMode
from tests.analytics.factories import audience, sent_issue


def unsubscribe_url(app, engine, issue_id: int, subscriber_id: int) -> str:
    """The List-Unsubscribe URL of the real message this subscriber got."""
    with Session(engine) as session:
        raw = app.state.renderer.message(
            session,
            issue=session.get(Issue, issue_id),
            subscriber=session.get(Subscriber, subscriber_id),
        )
    message = email.message_from_bytes(raw, policy=email.policy.default)
    url = re.search(r"<(http[^>]+)>", message["List-Unsubscribe"]).group(1)
    return url.removeprefix("http://testserver")


def stored_events(engine) -> list[EngagementEvent]:
    with Session(engine) as session:
        return list(session.scalars(select(EngagementEvent)))


def switch_privacy(engine, mode: PrivacyMode) -> None:
    with unit_of_work(engine) as session:
        tracking.change_privacy(
            session, mode=mode, legal_basis="works agreement 2026/4", actor=CLI_PRINCIPAL
        )


def test_each_unsubscribe_counts_once_for_the_issue_and_names_nobody(app, client, engine, api):
    ids = audience(engine, 12, "x")
    issue_id = sent_issue(engine, {"All staff": ids})
    urls = [unsubscribe_url(app, engine, issue_id, s) for s in ids[:11]]

    for url in urls:
        client.get(url)  # a link scanner: changes nothing
    assert stored_events(engine) == []
    for url in [*urls, urls[0]]:  # the first person clicks twice
        assert client.post(url, data={"List-Unsubscribe": "One-Click"}).status_code == 200

    rows = stored_events(engine)
    assert len(rows) == 11
    assert {(r.kind, r.issue_id, r.subscriber_id, r.machine) for r in rows} == {
        ("unsubscribe", issue_id, None, False)
    }
    assert len({r.reader for r in rows}) == 11 and all(r.variant for r in rows)
    issue = api("stats:read").get(f"/api/v1/issues/{issue_id}/stats").json()["issue"]
    assert issue["unsubscribes"] == 11


def test_individual_mode_keeps_the_subscriber_and_off_records_nothing(app, client, engine):
    ids = audience(engine, 2, "y")
    issue_id = sent_issue(engine, {"All staff": ids})
    first, second = (unsubscribe_url(app, engine, issue_id, s) for s in ids)

    switch_privacy(engine, PrivacyMode.individual)
    client.post(first)
    switch_privacy(engine, PrivacyMode.off)
    client.post(second)

    [row] = stored_events(engine)
    assert (row.subscriber_id, row.reader) == (ids[0], None)
    with Session(engine) as session:
        assert session.get(Subscriber, ids[1]).status == "unsubscribed"
