"""The issue editor in Chromium: drag excerpts within and between sections (the order
survives a reload), edit one in place, frame one for a segment, schedule with the
confirmation naming the audience."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlmodel import Session

from app.accounts.models import Role
from app.accounts.principal import CLI_PRINCIPAL
from app.issues import service as issues
from app.issues.models import Excerpt, ExcerptCreate, ExcerptFraming, Issue
from tests.delivery.factories import approved_issue, issue_status, people, static_segment
from tests.studio import factories
from tests.studio.conftest import csp_violations

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect


def an_issue(session, segment_ids=()) -> int:
    """Sections Email (First, Second) and Network (Third)."""
    issue = factories.issue(session, segment_ids=list(segment_ids))
    for headline, theme, kind in (("First", "email", "win"), ("Second", "email", "open_work"),
                                  ("Third", "network", "info")):  # fmt: skip
        data = ExcerptCreate(kind=kind, headline=headline, body=f"{headline} text.", theme=theme)
        issues.add_excerpt(session, issue=issue, data=data, actor=CLI_PRINCIPAL)
    session.commit()
    return issue.id


def headlines(page, section: str) -> list[str]:
    """The headlines listed under a section's heading, as the page shows them."""
    items = page.locator(f"ol[aria-labelledby='{section}'] [data-testid=excerpt] .headline")
    return items.all_inner_texts()


def drag(page, handle, target, *, below: bool, status: int = 200) -> None:
    """Press on the handle, move in steps onto the target's lower or upper part, release
    (SortableJS runs on pointer events here, as a person's mouse makes them)."""
    # An earlier change's swaps (content, balance, preview) settle first: a row or heading
    # taken mid-swap is detached before it can be used.
    page.wait_for_load_state("networkidle")
    # Rows near the window's edge would make SortableJS scroll the page mid-drag.
    page.locator("#issue-content h2").scroll_into_view_if_needed()
    page.mouse.wheel(0, page.locator("#issue-content").bounding_box()["y"] - 20)
    page.wait_for_timeout(100)
    start = handle.bounding_box()
    end = target.bounding_box()
    x, y = start["x"] + start["width"] / 2, start["y"] + start["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 4, y + 4, steps=4)
    page.wait_for_timeout(100)
    middle = end["x"] + end["width"] / 2
    # Onto the target's lower part, then (for "above") back up over its upper part, as a
    # hand does; a pause lets SortableJS's animation settle before the next move.
    for fraction in (0.75,) if below else (0.75, 0.15):
        page.mouse.move(middle, end["y"] + end["height"] * fraction, steps=15)
        page.wait_for_timeout(250)
    with page.expect_response(re.compile(r"/excerpts/\d+/move$")) as answer:
        page.mouse.up()
    assert answer.value.status == status


def stored_order(session, issue_id: int) -> list[tuple[str, str]]:
    session.expire_all()
    rows = session.execute(
        select(Excerpt.headline, Excerpt.section_id, Excerpt.position)
        .where(Excerpt.issue_id == issue_id)
        .order_by(Excerpt.section_id, Excerpt.position)
    )
    return [(headline, section) for headline, section, _ in rows]


def test_drag_within_and_between_sections_and_the_order_survives_a_reload(
    studio_as, live_server, session
):
    issue_id = an_issue(session)
    email, network = (f"section-{s.id}" for s in issues.sections_of(session, issue_id=issue_id))
    editor = studio_as(Role.editor)
    editor.goto(f"{live_server}/studio/issues/{issue_id}")
    assert headlines(editor, email) == ["First", "Second"]

    def row(headline: str):
        return editor.get_by_test_id("excerpt").filter(has_text=headline)

    drag(editor, row("First").locator(".drag-handle"), row("Second"), below=True)
    editor.locator(f"ol[aria-labelledby='{email}'] li:first-child .headline").filter(
        has_text="Second"
    ).wait_for()
    assert headlines(editor, email) == ["Second", "First"]

    drag(editor, row("First").locator(".drag-handle"), row("Third"), below=False)
    editor.locator(f"ol[aria-labelledby='{network}'] .headline").first.filter(
        has_text="First"
    ).wait_for()

    editor.reload()
    assert headlines(editor, email) == ["Second"]
    assert headlines(editor, network) == ["First", "Third"]
    assert [h for h, _ in stored_order(session, issue_id)] == ["Second", "First", "Third"]
    # The keyboard way is still there.
    editor.get_by_role("button", name=re.compile(r"Down\W+First")).press("Enter")
    expect(editor.get_by_role("button", name=re.compile(r"Up\W+First"))).to_be_focused()
    assert headlines(editor, network) == ["Third", "First"]
    assert not csp_violations(editor), editor.problems


def test_a_refused_drop_says_why_and_shows_the_stored_order_again(
    studio_as, live_server, engine, session
):
    issue_id = an_issue(session)
    editor = studio_as(Role.editor)
    editor.goto(f"{live_server}/studio/issues/{issue_id}")
    with Session(engine) as db:  # meanwhile the send started: the content is frozen
        db.get(Issue, issue_id).status = "sending"
        db.commit()
    rows = editor.get_by_test_id("excerpt")
    drag(editor, rows.filter(has_text="First").locator(".drag-handle"),
         rows.filter(has_text="Third"), below=True, status=409)  # fmt: skip
    editor.locator("#toast").filter(has_text="can no longer change").wait_for()
    # The content comes back as stored (and, the issue being sent, without handles).
    editor.locator("#issue-content:not(:has(.drag-handle))").wait_for()
    assert editor.locator("#issue-content .headline").all_inner_texts() == [
        "First",
        "Second",
        "Third",
    ]


def test_edit_an_excerpt_in_place_and_save(studio_as, live_server, session):
    issue_id = an_issue(session)
    editor = studio_as(Role.editor)
    editor.goto(f"{live_server}/studio/issues/{issue_id}")
    row = editor.locator("li[data-testid=excerpt]").filter(has_text="Third")
    assert "0 wins" not in editor.get_by_test_id("balance").inner_text()

    row.get_by_role("link", name=re.compile(r"Edit\W+Third")).click()
    form = editor.locator("form.excerpt-form")
    form.get_by_label("Headline").fill("")
    form.get_by_role("button", name=re.compile("Save")).click()
    form.get_by_text("must not be empty").wait_for()  # shown beside the field, form kept
    form.get_by_label("Headline").fill("Third, now a win")
    form.get_by_label("Kind").select_option("win")
    form.get_by_label("Text (Markdown)").fill("Ready **today**.")
    form.get_by_role("button", name=re.compile("Save")).click()

    saved = editor.locator("li[data-testid=excerpt]").filter(has_text="Third, now a win")
    saved.get_by_role("link", name=re.compile("Edit")).wait_for()
    assert editor.locator("form.excerpt-form").count() == 0
    editor.get_by_test_id("balance").filter(has_text="2 wins").wait_for()  # out of band
    expect(saved.get_by_role("link", name=re.compile("Edit"))).to_be_focused()

    saved.get_by_role("link", name=re.compile("Edit")).click()
    editor.locator("form.excerpt-form").get_by_label("Headline").fill("Not kept")
    questions: list[str] = []
    editor.on("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    editor.get_by_role("button", name=re.compile(r"Down\W+First")).click()  # elsewhere
    assert questions and "Discard what is open" in questions[0]
    assert editor.locator("form.excerpt-form").get_by_label("Headline").input_value() == "Not kept"
    editor.get_by_role("link", name="Cancel").click()
    editor.locator("li[data-testid=excerpt]").filter(has_text="Third, now a win").wait_for()
    session.expire_all()
    query = select(Excerpt.headline).where(Excerpt.body_md.contains("today"))
    headline = session.scalar(query.where(Excerpt.kind == "win"))
    assert headline == "Third, now a win"
    assert not csp_violations(editor), editor.problems


def test_frame_an_excerpt_for_one_segment(studio_as, live_server, engine, session):
    staff = static_segment(engine, "Staff", people(engine, 2))
    bosses = static_segment(engine, "Bosses", people(engine, 1, prefix="b"))
    issue_id = an_issue(session, segment_ids=[staff, bosses])
    editor = studio_as(Role.editor)
    editor.goto(f"{live_server}/studio/issues/{issue_id}")

    editor.get_by_label("As received by").select_option(label="Bosses")
    editor.wait_for_url(re.compile(f"segment_id={bosses}"))
    row = editor.locator("li[data-testid=excerpt]").filter(has_text="First")
    row.get_by_role("link", name=re.compile(r"Framings\W+First")).click()
    editor.get_by_label("What Bosses reads").fill("It saves **money**.")
    editor.get_by_role("button", name="Save framing for Bosses").click()
    editor.get_by_text("Saved: Bosses reads this text.").wait_for()
    phone = editor.frame_locator("[data-testid=preview-mobile]")  # reloaded after the change
    phone.get_by_text("It saves").filter(visible=True).first.wait_for()
    editor.get_by_role("link", name=re.compile("Close framings")).click()
    editor.get_by_test_id("framed-for").filter(has_text="framed for Bosses").wait_for()

    framing = session.scalar(select(ExcerptFraming).where(ExcerptFraming.segment_id == bosses))
    assert framing is not None and framing.body_md == "It saves **money**."
    assert not csp_violations(editor), editor.problems


def test_schedule_with_a_confirmation_naming_the_audience(studio_as, live_server, engine):
    issue_id = approved_issue(engine, [static_segment(engine, "Readers", people(engine, 3))])
    approver = studio_as(Role.approver)
    approver.goto(f"{live_server}/studio/issues/{issue_id}")
    questions: list[str] = []

    def answer(dialog):
        questions.append(dialog.message)
        dialog.accept()

    approver.on("dialog", answer)
    when = datetime.now(UTC) + timedelta(days=3)
    approver.get_by_label("Send at (UTC time)").fill(when.strftime("%Y-%m-%dT08:30"))
    approver.get_by_role("button", name="Schedule for 3 subscribers").click()
    approver.get_by_test_id("issue-status").filter(has_text="scheduled").wait_for()

    assert "3 subscribers" in questions[0]
    assert approver.get_by_test_id("send-at").inner_text() == when.strftime("%Y-%m-%d 08:30 UTC")
    assert issue_status(engine, issue_id) == "scheduled"
    approver.get_by_role("button", name="Unschedule").click()
    approver.get_by_test_id("issue-status").filter(has_text="approved").wait_for()
    assert not csp_violations(approver), approver.problems
