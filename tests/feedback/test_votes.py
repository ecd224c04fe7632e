"""After a one-click vote: an optional comment and ratings that update that same row."""

import email
import email.policy
import re

from sqlalchemy import select
from sqlmodel import Session

from app.issues.models import Issue
from app.subscribers.models import Subscriber
from app.tracking.models import ExcerptFeedback
from tests.delivery.factories import approved_issue, people, static_segment


def vote_links(app, engine) -> list[str]:
    """The "useful" / "not useful" paths of a real message, as the reader gets them."""
    [person] = people(engine, 1)
    issue_id = approved_issue(engine, [static_segment(engine, "All", [person])])
    with Session(engine) as session:
        raw = app.state.renderer.message(
            session, issue=session.get(Issue, issue_id), subscriber=session.get(Subscriber, person)
        )
    message = email.message_from_bytes(raw, policy=email.policy.default)
    html = message.get_body(("html",)).get_content()
    return re.findall(r'href="http://testserver(/f/[^"]+)"', html)


def votes(engine) -> list[ExcerptFeedback]:
    with Session(engine) as session:
        return list(session.scalars(select(ExcerptFeedback).order_by(ExcerptFeedback.id)))


def details_path(page: str) -> str:
    return re.search(r'action="(/f/more/[^"]+)"', page).group(1)


def test_the_vote_offers_ratings_that_update_the_same_row(app, client, engine):
    useful = vote_links(app, engine)[0]
    thanks = client.post(useful, data={"comment": "short"})
    assert thanks.status_code == 200 and "Would you like to tell us more?" in thanks.text
    [vote] = votes(engine)
    assert (vote.useful, vote.comment, vote.relevance, vote.clarity) == (True, "short", None, None)

    more = details_path(thanks.text)
    assert client.get(more).status_code == 200  # a scanner's GET changes nothing
    saved = client.post(more, data={"relevance": "4", "clarity": "5", "comment": "Clear, thanks"})
    assert saved.status_code == 200 and "Saved." in saved.text
    [updated] = votes(engine)
    assert updated.id == vote.id
    assert (updated.relevance, updated.clarity, updated.comment) == (4, 5, "Clear, thanks")
    assert updated.updated_at is not None
    # Leaving a rating out clears it; the page shows what is stored.
    client.post(more, data={"relevance": "", "clarity": "2", "comment": ""})
    [again] = votes(engine)
    assert (again.relevance, again.clarity, again.comment) == (None, 2, "")
    assert 'value="2" style="display:inline;width:auto" checked' in client.get(more).text


def test_out_of_range_ratings_are_named_and_change_nothing(app, client, engine):
    useful = vote_links(app, engine)[0]
    more = details_path(client.post(useful, data={}).text)
    wrong = client.post(more, data={"relevance": "9", "clarity": "x", "comment": "kept"})
    assert wrong.status_code == 422
    assert re.search(r'id="relevance-error">choose 1 \(poor\) to 5', wrong.text)
    assert re.search(r'id="clarity-error">choose 1 \(poor\) to 5', wrong.text)
    assert ">kept</textarea>" in wrong.text
    [vote] = votes(engine)
    assert (vote.relevance, vote.clarity, vote.comment) == (None, None, "")


def test_a_tampered_or_foreign_token_gets_a_404_and_another_site_a_403(app, client, engine):
    useful = vote_links(app, engine)[0]
    more = details_path(client.post(useful, data={}).text)
    tampered = more[:-2] + ("AA" if not more.endswith("AA") else "BB")
    vote_token = useful.removeprefix("/f/")
    for path in (tampered, f"/f/more/{vote_token}", "/f/more/nonsense"):
        answer = client.post(path, data={"relevance": "1"})
        assert answer.status_code == 404, path
        assert answer.headers["content-type"].startswith("text/html")
    foreign = client.post(more, data={"relevance": "1"}, headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    [vote] = votes(engine)
    assert vote.relevance is None
