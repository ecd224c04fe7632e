"""Sending in Chromium: an approver sends a small issue into an aiosmtpd sink and watches the
progress to completion; a viewer is offered no button and refused the unsafe route."""

import re

import pytest

from app.accounts.models import Role
from app.delivery.models import RunState
from tests.delivery.factories import issue_status
from tests.studio.conftest import csp_violations
from tests.studio.test_sending import an_approved_issue, start_send

pytestmark = pytest.mark.browser


def test_an_approver_sends_and_watches_the_progress_to_the_end(
    studio_as, live_server, engine, smtp_sink, mail_into
):
    mail_into(smtp_sink.url())
    issue_id = an_approved_issue(engine, audience=3)
    page = studio_as(Role.approver)
    page.goto(f"{live_server}/studio/issues/{issue_id}")
    confirmations: list[str] = []

    def accept(dialog) -> None:
        confirmations.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    page.get_by_role("button", name="Send to 3 subscribers now").click()
    page.get_by_test_id("run-state").filter(has_text="Sent.").wait_for(timeout=20_000)
    assert confirmations == ["Send issue #1 to 3 subscribers now?"]
    assert page.get_by_test_id("count-sent").inner_text() == "3"
    assert page.get_by_role("button", name="Pause").count() == 0  # polling stopped, over
    assert sorted(r for m in smtp_sink.received for r in m.rcpt_tos) == [
        "p0@example.com", "p1@example.com", "p2@example.com",
    ]  # fmt: skip
    assert issue_status(engine, issue_id) == "sent"
    assert not csp_violations(page), page.problems


def test_an_approver_pauses_and_resumes(studio_as, live_server, engine):
    issue_id = an_approved_issue(engine, audience=2)
    start_send(engine, issue_id, RunState.paused)  # no job queued: it waits for a person
    page = studio_as(Role.approver)
    page.goto(f"{live_server}/studio/issues/{issue_id}/sending")
    page.get_by_role("button", name="Resume").click()
    page.get_by_test_id("run-state").filter(has_text=re.compile("Sending|Sent")).wait_for()


def test_a_viewer_sees_no_send_or_pause_button_and_gets_403(studio_as, live_server, engine):
    issue_id = an_approved_issue(engine)
    page = studio_as(Role.viewer)
    page.goto(f"{live_server}/studio/issues/{issue_id}/sending")
    assert page.get_by_test_id("audience-size").inner_text() == "3"
    assert page.get_by_role("button").filter(has_text=re.compile("Send|Pause")).count() == 0

    token = page.evaluate("JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token']")
    refused = page.request.post(
        f"{live_server}/studio/issues/{issue_id}/send",
        headers={"X-CSRF-Token": token, "Origin": live_server},
    )
    assert refused.status == 403
    start_send(engine, issue_id)
    page.reload()
    page.get_by_test_id("run-state").wait_for()
    assert page.get_by_role("button").filter(has_text=re.compile("Pause|Cancel")).count() == 0
    paused = page.request.post(
        f"{live_server}/studio/issues/{issue_id}/send/pause",
        headers={"X-CSRF-Token": token, "Origin": live_server},
    )
    assert paused.status == 403
