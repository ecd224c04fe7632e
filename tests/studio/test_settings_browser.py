"""Settings in Chromium: an admin creates an API key and sees its secret once."""

import httpx
import pytest

from app.accounts.models import Role
from tests.studio.conftest import csp_violations, screenshot, serious_violations

pytestmark = pytest.mark.browser


def test_an_admin_creates_an_api_key_and_sees_the_secret_once(studio_as, live_server):
    page = studio_as(Role.admin)
    page.goto(f"{live_server}/studio/settings")
    page.get_by_role("link", name="API keys").click()
    page.wait_for_url(f"{live_server}/studio/settings/api-keys")

    page.get_by_role("button", name="Create the key").click()  # nothing filled in
    page.get_by_role("alert").wait_for()
    assert "choose at least one scope" in page.locator("#api-keys").inner_text()

    page.get_by_label("Name").fill("monitoring")
    page.get_by_label("news:write").check()
    page.get_by_role("button", name="Create the key").click()
    secret_field = page.locator("#one-time-secret")
    secret_field.wait_for()
    secret = secret_field.input_value()
    assert secret.startswith("dbk_")
    assert "Shown once" in page.get_by_test_id("secret-once").inner_text()
    page.get_by_role("button", name="Copy").click()
    page.locator("#one-time-secret-status").filter(has_text="C").wait_for()  # Copied / Ctrl+C
    assert page.evaluate("document.activeElement.id") == "one-time-secret"

    answer = httpx.get(
        f"{live_server}/api/v1/calendar", headers={"Authorization": f"Bearer {secret}"}
    )
    assert answer.status_code == 403  # the key is real; it lacks issues:read

    page.reload()
    assert page.get_by_role("cell", name="monitoring", exact=True).count() == 1
    assert secret not in page.content() and page.locator("#one-time-secret").count() == 0
    assert not csp_violations(page), page.problems


def test_a_shown_secret_and_form_errors_are_accessible(studio_as, live_server, axe_path):
    page = studio_as(Role.admin, bypass_csp=True)  # axe-core is injected: see conftest
    page.goto(f"{live_server}/studio/settings/users")
    page.get_by_label("Email").fill("new@example.com")
    page.get_by_role("button", name="Add the person").click()
    page.get_by_test_id("secret-once").wait_for()
    assert serious_violations(page, axe_path) == []
    screenshot(page, "settings-users-secret")

    page.get_by_label("Email").fill("not an address")
    page.get_by_role("button", name="Add the person").click()
    page.get_by_role("alert").wait_for()
    assert serious_violations(page, axe_path) == []
    screenshot(page, "settings-users-errors")
