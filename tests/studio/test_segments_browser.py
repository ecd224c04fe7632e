"""The segment builder in Chromium: the live count changes as you type."""

import pytest
from sqlalchemy import select

from app.accounts.models import Role
from app.segments.models import Segment
from tests.studio import factories
from tests.studio.conftest import csp_violations

pytestmark = pytest.mark.browser


def test_the_live_count_follows_typing_and_the_segment_is_saved(studio_as, live_server, session):
    for department in ("Finance", "Finance", "IT", "Legal"):
        factories.subscriber(session, attributes={"department": department})
    session.commit()
    page = studio_as(Role.editor)
    page.goto(f"{live_server}/studio/segments")
    page.get_by_role("link", name="New segment").click()
    count = page.get_by_test_id("live-count")
    count.filter(has_text="add a condition").wait_for()

    page.get_by_label("Attribute").fill("department")
    page.get_by_label("Value").fill("Fin")
    count.filter(has_text="0 members").wait_for()
    page.get_by_label("Value").fill("Finance")  # typed on: the count follows
    count.filter(has_text="2 members").wait_for()

    page.get_by_role("button", name="Add condition").click()
    page.get_by_test_id("condition").nth(1).wait_for()
    page.get_by_label("Members match").select_option("any")
    second = page.get_by_test_id("condition").nth(1)
    second.get_by_label("Attribute").fill("department")
    second.get_by_label("Operator").select_option("in")
    second.get_by_label("Value").fill("IT, Legal")
    count.filter(has_text="4 members").wait_for()

    page.get_by_label("Name").fill("Finance, IT and Legal")
    page.get_by_role("button", name="Save segment").click()
    page.wait_for_url(f"{live_server}/studio/segments")
    row = page.get_by_test_id("segment").filter(has_text="Finance, IT and Legal")
    assert "4" in row.inner_text()
    saved = session.scalar(select(Segment).where(Segment.name == "Finance, IT and Legal"))
    assert saved.rule["any"][1] == {"field": "department", "op": "in", "value": ["IT", "Legal"]}
    assert not csp_violations(page), page.problems
