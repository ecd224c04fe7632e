"""The API documentation renders in a browser from vendored assets (no CDN on an intranet)."""

import pytest

pytestmark = pytest.mark.browser


def test_swagger_ui_renders_the_api_offline(live_server, page):
    outside_requests = []
    page.on(
        "request",
        lambda r: None if r.url.startswith(live_server) else outside_requests.append(r.url),
    )
    page.goto(f"{live_server}/docs")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "Drumbeat" in page.locator(".swagger-ui .info .title").inner_text()
    assert page.locator(".opblock-tag", has_text="subscribers").count() == 1
    assert outside_requests == []
