"""The public feedback form: criteria asked for, nothing stored from a faulty or foreign
post, a per-address rate limit."""

import re

from sqlalchemy import func, select
from sqlmodel import Session

from app.feedback.models import FeedbackSubmission
from app.feedback.public import POSTS_PER_MINUTE
from tests.feedback.conftest import VALID_IDEA


def stored(engine) -> list[FeedbackSubmission]:
    with Session(engine) as session:
        return list(session.scalars(select(FeedbackSubmission)))


def error_for(page: str, field: str) -> str:
    match = re.search(rf'<span class="error" id="{field}-error">([^<]*)</span>', page)
    return match.group(1) if match else ""


def test_the_form_is_public_and_asks_for_the_criteria(client, engine):
    page = client.get("/feedback")
    assert page.status_code == 200
    for question in ("What problem", "Who is affected?", "What would be better"):
        assert question in page.text
    for kind in ("idea", "complaint", "question", "praise"):
        assert f'value="{kind}"' in page.text


def test_an_idea_without_its_criteria_comes_back_with_each_field_named(send_form, engine):
    answer = send_form({"kind": "idea", "problem": "slow", "name": "Kim <b>K</b>"})
    assert answer.status_code == 422
    assert "Please check these fields" in answer.text
    assert "at least 10 characters" in error_for(answer.text, "problem")
    assert "who is affected" in error_for(answer.text, "affected")
    assert "better" in error_for(answer.text, "benefit")
    assert error_for(answer.text, "name") == ""
    # What the person typed is kept (escaped), so nothing has to be written twice.
    assert 'value="Kim &lt;b&gt;K&lt;/b&gt;"' in answer.text
    assert ">slow</textarea>" in answer.text
    assert stored(engine) == []


def test_kind_and_email_are_checked(send_form, engine):
    answer = send_form({**VALID_IDEA, "kind": "", "email": "not-an-address"})
    assert answer.status_code == 422
    assert "idea, a complaint" in error_for(answer.text, "kind")
    assert "not an email address" in error_for(answer.text, "email")
    question = send_form({"kind": "question"})
    assert "write your question" in error_for(question.text, "message")
    assert stored(engine) == []


def test_a_valid_idea_is_stored_anonymously_unless_a_name_is_given(send_form, engine):
    thanks = send_form(VALID_IDEA)
    assert thanks.status_code == 200 and "Thank you" in thanks.text
    assert thanks.url.path == "/feedback/thanks"
    named = send_form(
        {"kind": "praise", "message": "The outage flash was great", "name": " Kim ",
         "email": "Kim@Example.com"}
    )  # fmt: skip
    assert named.status_code == 200
    anonymous, signed = sorted(stored(engine), key=lambda s: s.id)
    assert (anonymous.kind, anonymous.status, anonymous.name, anonymous.email) == (
        "idea", "new", None, None,
    )  # fmt: skip
    assert anonymous.affected == VALID_IDEA["affected"]
    assert (signed.name, signed.email) == ("Kim", "kim@example.com")


def test_a_post_from_another_site_or_without_the_form_token_is_refused(client, send_form, engine):
    foreign = send_form(VALID_IDEA, headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    assert foreign.headers["content-type"].startswith("text/html")
    cross_site = send_form(VALID_IDEA, headers={"Sec-Fetch-Site": "cross-site"})
    assert cross_site.status_code == 403
    no_token = client.post("/feedback", data=VALID_IDEA)
    assert no_token.status_code == 403 and "please send again" in no_token.text
    assert 'value="Everyone who forgets a password"' in no_token.text  # nothing lost
    forged = client.post("/feedback", data={**VALID_IDEA, "form_token": "AQ.AAAA"})
    assert forged.status_code == 403
    assert stored(engine) == []
    same_site = send_form(VALID_IDEA, headers={"Origin": "http://testserver"})
    assert same_site.status_code == 200
    assert len(stored(engine)) == 1


def test_too_many_posts_from_one_address_get_a_429_page(client, send_form, engine):
    for _ in range(POSTS_PER_MINUTE):
        assert send_form({"kind": "question"}).status_code == 422
    refused = send_form(VALID_IDEA)
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("text/html")
    assert int(refused.headers["retry-after"]) >= 1
    assert "Too many requests" in refused.text
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(FeedbackSubmission)) == 0
