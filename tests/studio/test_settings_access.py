"""Every settings page and action: admins only (403 for editors and viewers, and no
Settings link for them), CSRF on every unsafe request."""

import re

import pytest

from app.accounts import service as accounts
from app.accounts.models import ApiKeyCreate, Role, Scope
from app.accounts.principal import CLI_PRINCIPAL
from app.webhooks import service as webhooks
from app.webhooks.models import WebhookEndpointCreate
from tests.conftest import make_user
from tests.studio.helpers import csrf_of, sign_in

PAGES = (
    "/studio/settings",
    "/studio/settings/users",
    "/studio/settings/api-keys",
    "/studio/settings/mail",
    "/studio/settings/cadence",
    "/studio/settings/webhooks",
    "/studio/settings/webhooks/{webhook}",
)
ACTIONS = (
    ("/studio/settings/users", {"email": "x@example.com", "role": "admin"}),
    ("/studio/settings/users/{user}/role", {"role": "admin"}),
    ("/studio/settings/users/{user}/active", {"active": "false"}),
    ("/studio/settings/users/{user}/password", {}),
    ("/studio/settings/api-keys", {"name": "k", "scopes": "admin"}),
    ("/studio/settings/api-keys/{key}/revoke", {}),
    ("/studio/settings/mail/test", {"email": "x@example.com"}),
    (
        "/studio/settings/cadence",
        {"cadence_days": "7", "weekday": "1", "plan_ahead": "2", "title_template": "T {number}"},
    ),
    ("/studio/settings/webhooks", {"url": "https://example.com/hook", "events": "*"}),
    ("/studio/settings/webhooks/{webhook}/active", {"active": "false"}),
    ("/studio/settings/webhooks/{webhook}/rotate", {}),
    ("/studio/settings/webhooks/{webhook}/ping", {}),
    ("/studio/settings/webhooks/{webhook}/delete", {}),
)


@pytest.fixture
def things(engine, session):
    key, _ = accounts.create_api_key(
        session, data=ApiKeyCreate(name="k", scopes=[Scope.news_write]), actor=CLI_PRINCIPAL
    )
    hook = webhooks.create(
        session, data=WebhookEndpointCreate(url="https://example.com/h"), actor=CLI_PRINCIPAL
    )
    session.commit()
    return {
        "user": make_user(engine, email="target@example.com", role=Role.admin),
        "key": key.id,
        "webhook": hook.id,
    }


@pytest.mark.parametrize("role", [Role.editor, Role.viewer, Role.approver])
def test_no_settings_page_or_action_for_anyone_but_an_admin(client, engine, things, role):
    sign_in(client, engine, role)
    assert "/studio/settings" not in client.get("/studio").text
    for path in PAGES:
        assert client.get(path.format(**things)).status_code == 403, path
    token = csrf_of(client)
    for path, form in ACTIONS:
        answer = client.post(path.format(**things), data={"csrf_token": token, **form})
        assert answer.status_code == 403, path


def test_every_settings_page_opens_for_an_admin(client, engine, things):
    sign_in(client, engine, Role.admin)
    home = client.get("/studio").text
    assert 'href="/studio/settings"' in home
    for path in PAGES:
        page = client.get(path.format(**things))
        assert page.status_code == 200, (path, page.text)
        assert " style=" not in page.text and "<script>" not in page.text


def test_every_settings_action_without_the_csrf_token_is_refused(client, engine, things):
    sign_in(client, engine, Role.admin)
    csrf_of(client)  # the cookie is set; only the token is missing
    for path, form in ACTIONS:
        answer = client.post(path.format(**things), data=form)
        assert answer.status_code == 403, path
        assert "stale or came from another site" in answer.text


def test_no_settings_template_carries_inline_script_style_or_event_handlers(project_root):
    templates = project_root / "templates"
    files = [*templates.glob("studio/settings*.html"), *templates.glob("webhooks/*.html")]
    files += [templates / "accounts" / name for name in ("users.html", "_users.html")]
    files += [templates / "accounts" / name for name in ("api_keys.html", "_api_keys.html")]
    inline = re.compile(r"<script(?![^>]*\bsrc=)|<style|\sstyle=|\son[a-z]+=|javascript:", re.I)
    assert len(files) >= 12
    assert [str(f) for f in files if inline.search(f.read_text())] == []


def test_the_overview_counts_what_each_part_holds(client, engine, things):
    sign_in(client, engine, Role.admin)
    page = client.get("/studio/settings").text
    assert "2 active people, 2 admins." in page and "1 active key." in page
    assert "1 endpoint, 1 active." in page and "A bulletin every 14 days, on Thursday." in page
    assert "Maildir outbox" in page and "In force: aggregate." in page
