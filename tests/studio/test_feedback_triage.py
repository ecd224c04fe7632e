"""The feedback inbox as a triage desk: filters in the URL, status and note changed in place
through the service the API uses (audited), and only by roles that may triage."""

import re

import pytest
from sqlalchemy import select
from sqlmodel import Session

from app.accounts.models import Role
from app.audit.models import AuditEntry
from app.feedback.models import FeedbackSubmission
from tests.feedback.conftest import VALID_IDEA
from tests.studio.conftest import csp_violations
from tests.studio.helpers import csrf_of, htmx, sign_in


@pytest.fixture
def inbox(engine) -> dict[str, int]:
    """An idea, a complaint already accepted and a praise, as the public form stores them."""
    rows = {
        "idea": FeedbackSubmission(kind="idea", problem=VALID_IDEA["problem"],
                                   affected=VALID_IDEA["affected"], benefit=VALID_IDEA["benefit"]),
        "complaint": FeedbackSubmission(kind="complaint", problem="The VPN drops every hour",
                                        affected="Remote staff", benefit="Calls stay up",
                                        status="accepted", name="Kim", email="kim@example.com"),
        "praise": FeedbackSubmission(kind="praise", message="Thanks for the <b>flash</b>"),
    }  # fmt: skip
    with Session(engine) as db:
        db.add_all(rows.values())
        db.commit()
        return {name: row.id for name, row in rows.items()}


def items_of(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'id="feedback-(\d+)" data-testid="feedback-item"', page)]


def test_filters_by_status_and_kind_live_in_the_url(client, engine, inbox):
    sign_in(client, engine, Role.viewer)
    page = client.get("/studio/feedback").text
    assert items_of(page) == [inbox["praise"], inbox["complaint"], inbox["idea"]]
    assert ">new (2)<" in page and ">accepted (1)<" in page and ">any (3)<" in page
    assert "Thanks for the &lt;b&gt;flash&lt;/b&gt;" in page

    assert items_of(client.get("/studio/feedback?status=new").text) == [
        inbox["praise"],
        inbox["idea"],
    ]
    assert items_of(client.get("/studio/feedback?status=new&kind=idea").text) == [inbox["idea"]]
    fragment = client.get("/studio/feedback?kind=complaint&status=", headers=htmx()).text
    assert "<html" not in fragment and items_of(fragment) == [inbox["complaint"]]
    for bad in ("status=maybe", "kind=rant", "before_id=soon"):
        answer = client.get(f"/studio/feedback?{bad}")
        assert answer.status_code == 422 and bad.split("=")[0] in answer.text, bad


def test_an_editor_changes_the_status_with_a_note_in_place_and_it_is_audited(client, engine, inbox):
    sign_in(client, engine, Role.editor)
    token = csrf_of(client, "/studio/feedback")
    idea = inbox["idea"]

    answer = client.post(
        f"/studio/feedback/{idea}",
        data={"status": "accepted", "note": "Self-service reset planned for Q1"},
        headers=htmx(**{"X-CSRF-Token": token}),
    )

    assert answer.status_code == 200 and "<html" not in answer.text
    assert answer.text.lstrip().startswith(f'<li class="feedback-item" id="feedback-{idea}"')
    assert 'data-testid="saved">Saved: accepted.<' in answer.text
    assert "Accepted by editor@example.com" in answer.text
    with Session(engine) as db:
        stored = db.get(FeedbackSubmission, idea)
        entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "feedback.triaged")).one()
    assert (stored.status, stored.status_note) == ("accepted", "Self-service reset planned for Q1")
    assert stored.status_changed_by == "editor@example.com"
    assert entry.details == {"from": "new", "to": "accepted", "note": stored.status_note}
    assert items_of(client.get("/studio/feedback?status=accepted").text) == [
        inbox["complaint"],
        idea,
    ]

    # Without htmx the form posts and comes back to the inbox.
    plain = client.post(
        f"/studio/feedback/{idea}",
        data={"status": "done", "note": "", "csrf_token": token},
        follow_redirects=False,
    )
    assert plain.status_code == 303 and plain.headers["location"].startswith("/studio/feedback")


def test_a_bad_status_or_note_is_named_and_changes_nothing(client, engine, inbox):
    sign_in(client, engine, Role.approver)
    token = csrf_of(client, "/studio/feedback")
    for data, field in (({"status": "maybe"}, "status"), ({"status": "done", "note": "x" * 2001},
                                                          "note")):  # fmt: skip
        answer = client.post(
            f"/studio/feedback/{inbox['idea']}", data=data, headers=htmx(**{"X-CSRF-Token": token})
        )
        assert answer.status_code == 422
        assert f'id="{field}-error-{inbox["idea"]}" role="alert"' in answer.text
    with Session(engine) as db:
        assert db.get(FeedbackSubmission, inbox["idea"]).status == "new"
    missing = client.post(
        "/studio/feedback/999999", data={"status": "done"}, headers={"X-CSRF-Token": token}
    )
    assert missing.status_code == 404


def test_a_viewer_reads_but_is_not_offered_triage_and_is_refused(client, engine, inbox):
    sign_in(client, engine, Role.viewer)
    page = client.get("/studio/feedback").text
    assert items_of(page) and 'name="note"' not in page and "/studio/feedback/" not in page
    token = csrf_of(client, "/studio/feedback")
    refused = client.post(
        f"/studio/feedback/{inbox['idea']}",
        data={"status": "declined"},
        headers={"X-CSRF-Token": token},
    )
    assert refused.status_code == 403
    without_token = client.post(f"/studio/feedback/{inbox['idea']}", data={"status": "declined"})
    assert without_token.status_code == 403
    with Session(engine) as db:
        assert db.get(FeedbackSubmission, inbox["idea"]).status == "new"


@pytest.mark.browser
def test_triage_in_chromium_swaps_the_item_and_keeps_the_filter(studio_as, live_server, inbox):
    page = studio_as(Role.approver)
    page.goto(f"{live_server}/studio/feedback")
    page.get_by_label("Kind").select_option("idea")  # htmx swaps the list, pushes the URL
    page.wait_for_url(re.compile(r"/studio/feedback\?.*kind=idea"))
    item = page.locator(f"#feedback-{inbox['idea']}")
    page.wait_for_function("document.querySelectorAll('[data-testid=feedback-item]').length === 1")

    item.get_by_label("Status").select_option("declined")
    item.get_by_label("Note").fill("Covered by the password self-service already")
    item.get_by_role("button", name="Save").click()

    item.get_by_role("status").wait_for()
    assert "Saved: declined." in item.inner_text()
    assert item.get_by_test_id("feedback-status").inner_text() == "declined"
    assert page.url.endswith("kind=idea")  # the triage did not navigate away
    page.reload()  # stored: the page from its URL shows the new status and the note
    note = page.locator(f"#feedback-{inbox['idea']} textarea").input_value()
    assert note == "Covered by the password self-service already"
    assert page.get_by_test_id("feedback-status").inner_text() == "declined"
    assert not csp_violations(page), page.problems
