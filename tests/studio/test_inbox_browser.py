"""The inbox in Chromium: sign in, filter, go back, add an item to the next issue."""

import re

import pytest
from sqlalchemy import select

from app.accounts.models import Role
from app.issues.models import Excerpt
from tests.conftest import TEST_PASSWORD, make_user
from tests.studio import factories

pytestmark = pytest.mark.browser
ROWS = "[data-testid=news-item]"


def test_an_editor_signs_in_filters_the_inbox_and_adds_an_item_to_the_issue(
    live_server, page, engine, session
):
    factories.news_item(session, title="Mail delays resolved", kind="win")
    factories.news_item(session, title="Licence backlog", kind="open_work", theme="licensing")
    issue = factories.issue(session)
    session.commit()
    make_user(engine, email="editor@example.com", role=Role.editor)
    problems: list[str] = []
    page.on("console", lambda m: m.type == "error" and problems.append(m.text))

    page.goto(f"{live_server}/studio/inbox")
    page.fill("input[name=email]", "editor@example.com")
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/studio/inbox")
    assert page.locator("[data-testid=news-item]").count() == 2

    page.get_by_label("open work").check()  # htmx swaps the list and pushes the URL
    page.wait_for_url(re.compile(r"/studio/inbox\?.*kind=open_work"))
    rows = page.locator("[data-testid=news-item]")
    page.wait_for_function(f"document.querySelectorAll({ROWS!r}).length === 1")
    assert "Licence backlog" in rows.first.inner_text()
    assert page.evaluate("typeof htmx") == "object"

    page.go_back()  # the unfiltered inbox, from its URL
    page.wait_for_url(f"{live_server}/studio/inbox")
    page.wait_for_function(f"document.querySelectorAll({ROWS!r}).length === 2")

    row = page.locator("[data-testid=news-item]", has_text="Mail delays resolved")
    row.get_by_role("button", name=re.compile("Add")).click()
    row.get_by_role("status").wait_for()
    assert f"Added to issue #{issue.number}" in row.inner_text()
    excerpt = session.scalar(select(Excerpt).where(Excerpt.issue_id == issue.id))
    assert excerpt is not None and excerpt.headline == "Mail delays resolved"
    assert not [p for p in problems if "Refused" in p or "Content Security" in p], problems
