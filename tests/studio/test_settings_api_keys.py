"""API keys in the settings: created with chosen scopes, the secret shown once and never
again, revoked; bad input beside its field."""

from sqlalchemy import select

from app.accounts.models import ApiKey, Role
from app.audit.models import AuditEntry
from tests.studio.helpers import csrf_of, htmx, sign_in
from tests.studio.test_settings_users import SECRET_FIELD, shown_secret

KEYS = "/studio/settings/api-keys"


def test_a_key_is_created_with_its_scopes_and_its_secret_shown_once(client, engine, session):
    sign_in(client, engine, Role.admin)
    form = {
        "csrf_token": csrf_of(client, KEYS),
        "name": "monitoring",
        "scopes": ["news:write", "issues:read"],
    }
    created = client.post(KEYS, data=form, headers=htmx())
    assert created.status_code == 200
    assert created.headers["cache-control"] == "no-store"
    secret = shown_secret(created.text)
    assert secret.startswith("dbk_") and "Shown once" in created.text

    key = session.scalar(select(ApiKey).where(ApiKey.name == "monitoring"))
    assert key.scopes == ["issues:read", "news:write"] and secret not in key.key_hash
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "api_key.created"))
    assert secret not in str(entry.details)

    # The key works against the API, and no later page shows it.
    api = client.get("/api/v1/calendar", headers={"Authorization": f"Bearer {secret}"})
    assert api.status_code == 200
    listing = client.get(KEYS).text
    assert "monitoring" in listing and key.display_prefix in listing
    assert secret not in listing and SECRET_FIELD not in listing
    assert secret not in client.get("/studio/settings").text


def test_a_revoked_key_stops_working(client, engine, session):
    sign_in(client, engine, Role.admin)
    token = csrf_of(client, KEYS)
    secret = shown_secret(
        client.post(
            KEYS, data={"csrf_token": token, "name": "hr", "scopes": "subscribers:read"}
        ).text
    )
    key = session.scalar(select(ApiKey).where(ApiKey.name == "hr"))
    revoked = client.post(
        f"{KEYS}/{key.id}/revoke", data={"csrf_token": token}, follow_redirects=False
    )
    assert revoked.status_code == 303 and revoked.headers["location"] == KEYS
    session.expire_all()
    assert session.get(ApiKey, key.id).revoked_at is not None
    api = client.get("/api/v1/subscribers", headers={"Authorization": f"Bearer {secret}"})
    assert api.status_code == 401
    assert "revoked" in client.get(KEYS).text


def test_a_key_needs_a_name_and_a_scope(client, engine, session):
    sign_in(client, engine, Role.admin)
    token = csrf_of(client, KEYS)
    empty = client.post(KEYS, data={"csrf_token": token, "name": "  "})
    assert empty.status_code == 422
    assert 'id="key-name-error"' in empty.text and 'id="key-scopes-error"' in empty.text
    assert "choose at least one scope" in empty.text
    unknown = client.post(KEYS, data={"csrf_token": token, "name": "x", "scopes": "root"})
    assert unknown.status_code == 422 and 'id="key-scopes-error"' in unknown.text
    assert session.scalar(select(ApiKey)) is None
    assert client.post(f"{KEYS}/999/revoke", data={"csrf_token": token}).status_code == 404
