"""The sign-in journey in a real browser."""

import pytest

from app.demo import seed
from tests.conftest import TEST_PASSWORD, make_user

pytestmark = pytest.mark.browser


def test_an_editor_signs_in_sees_the_audience_and_signs_out(live_server, page, engine, session):
    seed.load(session)
    session.commit()
    make_user(engine, email="editor@example.com")

    page.goto(f"{live_server}/studio")
    assert "/studio/login" in page.url
    page.fill("input[name=email]", "editor@example.com")
    page.fill("input[name=password]", "wrong password here")
    page.click("button[type=submit]")
    assert page.locator("[role=alert]").inner_text() == "Email or password is not correct."

    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/studio")
    assert page.locator("[data-testid=subscriber-total]").inner_text() == "200"
    assert page.get_by_role("cell", name="Top management").count() == 1
    assert page.evaluate("typeof htmx") == "object"  # the vendored htmx loaded, no CDN

    page.click("text=Sign out")
    page.wait_for_url(f"{live_server}/studio/login")
    page.goto(f"{live_server}/studio")
    assert "/studio/login" in page.url
