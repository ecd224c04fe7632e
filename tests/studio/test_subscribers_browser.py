"""The CSV import in Chromium: a file with a bad row, the progress, the line-numbered report."""

import re

import pytest
from sqlalchemy import select

from app.accounts.models import Role
from app.subscribers.models import Subscriber
from tests.studio.conftest import csp_violations

pytestmark = pytest.mark.browser

CSV = (
    "email;name;department\n"
    "ana@example.com;Ana;Finance\n"
    "ben@example.com;Ben;IT\n"
    "nobody-at-all;Broken;IT\n"
    "cem@example.com;Cem;Legal\n"
)


def test_an_import_with_a_bad_row_names_its_line_and_imports_the_rest(
    studio_as, live_server, session
):
    page = studio_as(Role.editor)
    page.goto(f"{live_server}/studio/subscribers")
    page.get_by_role("link", name="Import CSV").click()
    page.wait_for_url(f"{live_server}/studio/subscribers/import")
    page.set_input_files(
        "input[name=file]",
        files=[{"name": "staff.csv", "mimeType": "text/csv", "buffer": CSV.encode()}],
    )
    page.get_by_role("button", name="Import").click()

    summary = page.get_by_test_id("import-summary")
    summary.wait_for(timeout=10_000)  # the fragment polled itself until the job finished
    assert "3 created" in summary.inner_text() and "1 rejected" in summary.inner_text()
    assert page.locator("progress").get_attribute("value") == "100"
    row = page.get_by_test_id("import-rejections").locator("tbody tr")
    assert row.count() == 1
    assert re.match(r"4\s+nobody-at-all\s+", row.inner_text())
    assert re.search(r"/studio/subscribers/import/[0-9a-f]{32}$", page.url)  # bookmarkable
    emails = set(session.scalars(select(Subscriber.email)))
    assert emails == {"ana@example.com", "ben@example.com", "cem@example.com"}

    page.get_by_role("link", name="See the subscribers").click()
    page.get_by_label("Search").fill("cem")
    page.wait_for_url(re.compile(r"q=cem"))
    page.wait_for_function("document.querySelectorAll('[data-testid=subscriber]').length === 1")
    assert "cem@example.com" in page.get_by_test_id("subscriber").inner_text()
    assert not csp_violations(page), page.problems
