"""The studio's frame without a browser: navigation by role, CSP, CSRF, fragments."""

import re

import pytest

from app.accounts.models import Role
from tests.studio.helpers import csrf_of, sign_in


def nav_labels(html: str) -> list[str]:
    start = html.index('aria-label="Studio"')
    block = html[start : html.index("</nav>", start)]
    return [part.split("<")[0] for part in block.split('">')[1:] if "</a>" in part]


EVERYONE = ["Dashboard", "Inbox", "Issues", "Subscribers", "Segments", "Feedback", "Analytics"]
EVERYONE += ["Archive"]


@pytest.mark.parametrize(
    ("role", "expected"), [(Role.viewer, EVERYONE), (Role.admin, [*EVERYONE, "Settings", "Outbox"])]
)
def test_the_navigation_offers_what_the_role_may_open(client, engine, role, expected):
    sign_in(client, engine, role)
    assert nav_labels(client.get("/studio").text) == expected


def test_settings_are_for_admins_only(client, engine):
    sign_in(client, engine, Role.editor)
    assert client.get("/studio/settings").status_code == 403


def test_studio_pages_carry_a_csp_without_inline_code_or_eval(client, engine):
    for path in ("/studio/login", "/studio/nowhere"):
        policy = client.get(path).headers["content-security-policy"]
        assert "script-src 'self'" in policy and "style-src 'self'" in policy
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert "frame-ancestors 'none'" in policy
    sign_in(client, engine, Role.admin)
    page = client.get("/studio/settings")
    assert "content-security-policy" in page.headers
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in client.get("/healthz").headers


def test_the_page_configures_htmx_without_eval_and_without_inline_script_or_style(client, engine):
    sign_in(client, engine, Role.admin)
    html = client.get("/studio").text
    assert '"allowEval": false' in html and '"selfRequestsOnly": true' in html
    assert "<script>" not in html and "<style" not in html and " style=" not in html
    assert " on" + "click=" not in html


def test_an_unsafe_studio_request_without_the_token_is_refused(client, engine):
    sign_in(client, engine, Role.admin)
    token = csrf_of(client)
    refused = client.post("/studio/logout", data={})
    assert refused.status_code == 403
    foreign = client.post(
        "/studio/logout", headers={"X-CSRF-Token": token, "Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    accepted = client.post(
        "/studio/logout", headers={"X-CSRF-Token": token}, follow_redirects=False
    )
    assert accepted.status_code == 303


def test_no_studio_template_carries_inline_script_style_or_event_handlers(project_root):
    # The CSP would block them in the browser; this says which template to fix.
    folders = ("studio", "news", "subscribers", "segments", "issues", "delivery", "accounts")
    templates = [project_root / "templates" / "base.html"]
    for folder in folders:
        templates += sorted((project_root / "templates" / folder).glob("*.html"))
    inline = re.compile(r"<script(?![^>]*\bsrc=)|<style|\sstyle=|\son[a-z]+=|javascript:", re.I)
    offenders = [str(t) for t in templates if inline.search(t.read_text())]
    assert offenders == []
