"""Journeys 2 and 3 as far as the studio goes today, in Chromium, as two people: the editor
adds news from the inbox to the next issue, reorders it, previews it, sends a test to
herself and submits it; the approver approves and sends it, and watches the progress until
every message is in the SMTP sink."""

import re

import pytest

from app.accounts.models import Role
from tests.delivery.factories import issue_status, people, static_segment
from tests.studio import factories
from tests.studio.conftest import csp_violations

pytestmark = pytest.mark.browser


def test_from_the_inbox_to_a_sent_issue_as_editor_and_approver(
    studio_as,
    live_server,
    engine,
    session,
    smtp_sink,
    mail_into,
):
    mail_into(smtp_sink.url())
    readers = static_segment(engine, "IT staff", people(engine, 4))
    factories.news_item(session, title="Mail delays resolved", kind="win")
    factories.news_item(session, title="Backlog of licence requests", kind="open_work")
    issue = factories.issue(session, title="Bulletin 49", segment_ids=[readers])
    session.commit()

    editor = studio_as(Role.editor)
    editor.goto(f"{live_server}/studio/inbox")
    for title in ("Mail delays resolved", "Backlog of licence requests"):
        row = editor.get_by_test_id("news-item").filter(has_text=title)
        row.get_by_role("button", name="Add").click()
        row.get_by_role("status").wait_for()
    editor.get_by_role("link", name=f"issue #{issue.number}").first.click()
    # The editor page has loaded and htmx has bound its buttons: a key pressed before that
    # would submit the move form without htmx (and without its CSRF header).
    editor.wait_for_url(f"**/studio/issues/{issue.id}")
    editor.wait_for_load_state("networkidle")
    editor.get_by_role("button", name=re.compile(r"Down\W+Mail delays")).press("Enter")  # keyboard
    editor.get_by_test_id("excerpt").first.filter(has_text="Backlog").wait_for()
    # Focus follows the moved excerpt (htmx focuses `autofocus` once the swap settles).
    editor.wait_for_function("document.activeElement.id.startsWith('up-')")
    phone = editor.frame_locator("[data-testid=preview-mobile]")
    phone.get_by_text("Backlog of licence requests").filter(visible=True).first.wait_for()
    editor.get_by_role("button", name=re.compile("Send this version as a test")).click()
    editor.get_by_test_id("test-send-result").filter(has_text="Test sent to").wait_for()
    # By keyboard: a click right after scrolling back up past the previews' iframes can
    # miss in headless Chromium.
    editor.get_by_role("button", name="Submit for approval").press("Enter")
    editor.get_by_test_id("issue-status").filter(has_text="in review").wait_for()
    assert editor.get_by_role("button", name="Approve").count() == 0  # not an editor's call

    approver = studio_as(Role.approver, email="approver@example.com")
    approver.goto(f"{live_server}/studio/issues/{issue.id}")
    approver.get_by_role("button", name="Approve").click()
    approver.get_by_test_id("issue-status").filter(has_text="approved").wait_for()
    approver.on("dialog", lambda dialog: dialog.accept())
    approver.get_by_role("button", name="Send to 4 subscribers now").click()
    approver.get_by_test_id("run-state").filter(has_text="Sent.").wait_for(timeout=20_000)

    assert approver.get_by_test_id("count-sent").inner_text() == "4"
    assert len({r for m in smtp_sink.received for r in m.rcpt_tos}) == 4
    assert b"Mail delays resolved" in smtp_sink.received[0].content
    assert issue_status(engine, issue.id) == "sent"
    assert not csp_violations(editor) and not csp_violations(approver)
