"""Unsubscribing from the email: scanners change nothing, one click (RFC 8058) does."""

import email
import email.policy
import re

from sqlalchemy import select
from sqlmodel import Session

from app.audit.models import AuditEntry
from app.issues.models import Issue
from app.subscribers.models import Subscriber, SubscriberStatus
from app.tracking.tokens import Purpose
from tests.delivery.factories import approved_issue, people, static_segment


def links_of(app, engine, subscriber_id):
    """The unsubscribe and preferences URLs of a real message to this subscriber."""
    issue_id = approved_issue(engine, [static_segment(engine, "All", [subscriber_id])])
    with Session(engine) as session:
        raw = app.state.renderer.message(
            session,
            issue=session.get(Issue, issue_id),
            subscriber=session.get(Subscriber, subscriber_id),
        )
    message = email.message_from_bytes(raw, policy=email.policy.default)
    unsubscribe = re.search(r"<(http[^>]+)>", message["List-Unsubscribe"]).group(1)
    html = message.get_body(("html",)).get_content()
    preferences = re.search(r'href="(http://testserver/p/[^"]+)"', html).group(1)
    strip = "http://testserver"
    return unsubscribe.removeprefix(strip), preferences.removeprefix(strip)


def status_of(engine, subscriber_id):
    with Session(engine) as session:
        return session.get(Subscriber, subscriber_id).status


def test_link_scanners_change_nothing_and_the_one_click_post_unsubscribes(app, client, engine):
    [person] = people(engine, 1)
    unsubscribe, _ = links_of(app, engine, person)

    page = client.get(unsubscribe)
    assert page.status_code == 200 and "Unsubscribe from the IT bulletin?" in page.text
    assert client.head(unsubscribe).status_code in (200, 405)
    assert status_of(engine, person) == SubscriberStatus.active

    # What a mail client sends for List-Unsubscribe-Post: no cookie, no CSRF token.
    one_click = client.post(unsubscribe, data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200 and "You are unsubscribed" in one_click.text
    assert status_of(engine, person) == SubscriberStatus.unsubscribed
    assert client.post(unsubscribe, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    with Session(engine) as session:
        actions = session.scalars(
            select(AuditEntry.action).where(
                AuditEntry.object_id == str(person), AuditEntry.object_type == "subscriber"
            )
        ).all()
    assert actions == ["subscriber.unsubscribed"]


def test_tampered_or_foreign_tokens_get_a_plain_404_and_change_nothing(app, client, engine):
    [person] = people(engine, 1)
    unsubscribe, _ = links_of(app, engine, person)
    tampered = unsubscribe[:-3] + ("AAA" if not unsubscribe.endswith("AAA") else "BBB")
    click_token = app.state.renderer.signer.make(Purpose.click, person, 1)
    for url in (tampered, f"/u/{click_token}", "/u/nonsense", "/p/%00"):
        response = client.post(url, data={"List-Unsubscribe": "One-Click"})
        assert response.status_code == 404, url
        assert response.headers["content-type"].startswith("text/html")
        assert "Traceback" not in response.text
    assert status_of(engine, person) == SubscriberStatus.active


def test_preferences_let_a_person_leave_and_come_back_but_not_undo_a_bounce(app, client, engine):
    [person] = people(engine, 1)
    _, preferences = links_of(app, engine, person)
    assert "is <strong>active</strong>" in client.get(preferences).text
    client.post(preferences, data={"subscription": "unsubscribe"})
    assert status_of(engine, person) == SubscriberStatus.unsubscribed
    back = client.post(preferences, data={"subscription": "resubscribe"})
    assert "Saved." in back.text and status_of(engine, person) == SubscriberStatus.active

    with Session(engine) as session:
        session.get(Subscriber, person).status = SubscriberStatus.bounced
        session.commit()
    client.post(preferences, data={"subscription": "resubscribe"})
    assert status_of(engine, person) == SubscriberStatus.bounced


def test_feedback_is_recorded_only_on_confirmation_and_without_a_name(app, client, engine):
    from app.tracking.models import ExcerptFeedback

    [person] = people(engine, 1)
    issue_id = approved_issue(engine, [static_segment(engine, "All", [person])])
    with Session(engine) as session:
        raw = app.state.renderer.message(
            session, issue=session.get(Issue, issue_id), subscriber=session.get(Subscriber, person)
        )
    html = (
        email.message_from_bytes(raw, policy=email.policy.default).get_body(("html",)).get_content()
    )
    useful, not_useful = re.findall(r'href="http://testserver(/f/[^"]+)"', html)[:2]

    page = client.get(useful)
    assert page.status_code == 200 and "Was “Mail is faster” useful?" in page.text
    with Session(engine) as session:
        assert session.scalars(select(ExcerptFeedback)).all() == []  # a scanner's GET
    thanks = client.post(useful, data={"comment": "More of this <b>please</b>"})
    assert thanks.status_code == 200 and "Thank you" in thanks.text
    client.post(not_useful, data={})
    with Session(engine) as session:
        votes = session.scalars(select(ExcerptFeedback).order_by(ExcerptFeedback.id)).all()
    assert [(v.useful, v.comment) for v in votes] == [
        (True, "More of this <b>please</b>"),
        (False, ""),
    ]
    assert not hasattr(votes[0], "subscriber_id")
    assert client.post(useful[:-2] + "zz").status_code == 404
