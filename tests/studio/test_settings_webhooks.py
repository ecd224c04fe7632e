"""Webhooks in the settings: add (secret shown once), pause and resume, rotate (the new
secret shown once), delete, and each endpoint's recent deliveries."""

import logging

from sqlalchemy import select

from app.accounts.models import Role
from app.accounts.principal import CLI_PRINCIPAL
from app.audit.models import AuditEntry
from app.webhooks import service as webhooks
from app.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEndpointCreate
from tests.studio.helpers import csrf_of, htmx, sign_in
from tests.studio.test_settings_users import SECRET_FIELD, shown_secret

HOOKS = "/studio/settings/webhooks"


def endpoint(session, url: str = "https://tickets.example.com/hook") -> WebhookEndpoint:
    made = webhooks.create(session, data=WebhookEndpointCreate(url=url), actor=CLI_PRINCIPAL)
    session.commit()
    return made


def test_an_endpoint_is_added_and_its_secret_shown_once(client, engine, session):
    sign_in(client, engine, Role.admin)
    form = {
        "csrf_token": csrf_of(client, HOOKS),
        "url": "https://tickets.example.com/drumbeat",
        "description": "ticketing",
        "events": ["issue.sent", "issue.approved"],
    }
    created = client.post(HOOKS, data=form, headers=htmx())
    assert created.status_code == 200 and created.headers["cache-control"] == "no-store"
    secret = shown_secret(created.text)
    stored = session.scalar(select(WebhookEndpoint))
    assert stored.secret == secret and stored.events == ["issue.approved", "issue.sent"]
    assert stored.description == "ticketing" and stored.is_active
    listing = client.get(HOOKS).text
    assert "https://tickets.example.com/drumbeat" in listing
    assert secret not in listing and SECRET_FIELD not in listing
    assert secret not in client.get(f"{HOOKS}/{stored.id}").text


def test_a_bad_url_or_no_event_is_reported_beside_the_field(client, engine, session):
    sign_in(client, engine, Role.admin)
    token = csrf_of(client, HOOKS)
    bad = client.post(
        HOOKS, data={"csrf_token": token, "url": "ftp://x.example.com", "events": "*"}
    )
    assert bad.status_code == 422 and 'id="hook-url-error"' in bad.text
    assert "only http:// and https://" in bad.text and 'value="ftp://x.example.com"' in bad.text
    none = client.post(HOOKS, data={"csrf_token": token, "url": "https://x.example.com"})
    assert none.status_code == 422 and 'id="hook-events-error"' in none.text
    assert session.scalar(select(WebhookEndpoint)) is None


def test_pause_resume_rotate_and_delete(client, engine, session):
    hook = endpoint(session)
    hook_id, old_secret = hook.id, hook.secret
    sign_in(client, engine, Role.admin)
    token = csrf_of(client, HOOKS)

    paused = client.post(f"{HOOKS}/{hook_id}/active", data={"csrf_token": token, "active": "false"})
    assert paused.status_code == 200 and "paused" in paused.text
    session.expire_all()
    assert session.get(WebhookEndpoint, hook_id).is_active is False
    client.post(f"{HOOKS}/{hook_id}/active", data={"csrf_token": token, "active": "true"})
    session.expire_all()
    assert session.get(WebhookEndpoint, hook_id).is_active is True

    rotated = client.post(f"{HOOKS}/{hook_id}/rotate", data={"csrf_token": token})
    new_secret = shown_secret(rotated.text)
    session.expire_all()
    assert new_secret != old_secret and session.get(WebhookEndpoint, hook_id).secret == new_secret
    assert new_secret not in client.get(HOOKS).text

    gone = client.post(
        f"{HOOKS}/{hook_id}/delete", data={"csrf_token": token}, follow_redirects=False
    )
    assert gone.status_code == 303
    session.expire_all()
    assert session.get(WebhookEndpoint, hook_id) is None
    done = {e.action for e in session.scalars(select(AuditEntry))}
    assert {"webhook.updated", "webhook.secret_rotated", "webhook.deleted"} <= done
    assert client.get(f"{HOOKS}/{hook_id}").status_code == 404


def test_recent_deliveries_show_their_status(client, engine, session):
    hook = endpoint(session)
    session.add_all(
        [
            WebhookDelivery(
                endpoint_id=hook.id,
                event="issue.sent",
                status="delivered",
                attempts=1,
                last_status_code=204,
                next_attempt_at=None,
            ),
            WebhookDelivery(
                endpoint_id=hook.id,
                event="issue.approved",
                status="failed",
                attempts=6,
                last_status_code=500,
                last_error="HTTP 500: boom",
                next_attempt_at=None,
            ),
        ]
    )
    session.commit()
    sign_in(client, engine, Role.admin)
    page = client.get(f"{HOOKS}/{hook.id}").text
    assert "delivered" in page and "HTTP 204" in page
    assert "failed" in page and "HTTP 500" in page and "boom" in page

    pinged = client.post(
        f"{HOOKS}/{hook.id}/ping", data={"csrf_token": csrf_of(client)}, headers=htmx()
    )
    assert pinged.status_code == 200 and "A ping is queued" in pinged.text
    assert "<code>ping</code>" in pinged.text


def test_no_secret_reaches_the_log(client, engine, session, caplog):
    caplog.set_level(logging.INFO)  # the app's default level
    sign_in(client, engine, Role.admin)
    token = csrf_of(client, HOOKS)
    hook = client.post(
        HOOKS, data={"csrf_token": token, "url": "https://x.example.com", "events": "*"}
    )
    hook_id = session.scalar(select(WebhookEndpoint.id))
    rotated = client.post(f"{HOOKS}/{hook_id}/rotate", data={"csrf_token": token})
    key = client.post(
        "/studio/settings/api-keys", data={"csrf_token": token, "name": "k", "scopes": "admin"}
    )
    person = client.post(
        "/studio/settings/users",
        data={"csrf_token": token, "email": "p@example.com", "role": "viewer"},
    )
    secrets = [shown_secret(answer.text) for answer in (hook, rotated, key, person)]
    assert all(secrets) and not any(secret in caplog.text for secret in secrets)
