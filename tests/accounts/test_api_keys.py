"""API keys: shown once, stored hashed, scoped, revocable."""

import hashlib

from sqlalchemy import select

from app.accounts.models import ApiKey
from app.audit.models import AuditEntry


def test_admin_creates_a_key_that_is_shown_once_and_stored_only_hashed(admin_api, session):
    response = admin_api.post(
        "/api/v1/api-keys", json={"name": "monitoring", "scopes": ["news:write"]}
    )
    assert response.status_code == 201
    secret = response.json()["key"]
    assert secret.startswith("dbk_") and len(secret) > 40

    stored = session.scalar(select(ApiKey).where(ApiKey.name == "monitoring"))
    assert stored.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in repr(stored.model_dump())
    assert secret.startswith(stored.display_prefix)

    listed = admin_api.get("/api/v1/api-keys").json()
    assert [k["name"] for k in listed] == ["test key", "monitoring"]
    assert all("key" not in k for k in listed)


def test_a_new_key_works_with_its_scope_only(admin_api, client):
    secret = admin_api.post(
        "/api/v1/api-keys", json={"name": "hr sync", "scopes": ["subscribers:read"]}
    ).json()["key"]
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/subscribers", headers=headers).status_code == 200
    denied = client.post("/api/v1/subscribers", headers=headers, json={"email": "a@example.com"})
    assert denied.status_code == 403
    assert denied.headers["content-type"] == "application/problem+json"
    assert "subscribers:write" in denied.json()["detail"]
    assert client.get("/api/v1/api-keys", headers=headers).status_code == 403


def test_a_revoked_key_is_refused_on_its_next_call(admin_api, client):
    created = admin_api.post(
        "/api/v1/api-keys", json={"name": "ci", "scopes": ["subscribers:read"]}
    ).json()
    headers = {"Authorization": f"Bearer {created['key']}"}
    assert client.get("/api/v1/subscribers", headers=headers).status_code == 200

    revoked = admin_api.delete(f"/api/v1/api-keys/{created['id']}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None

    response = client.get("/api/v1/subscribers", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_missing_malformed_and_unknown_keys_get_401_problems(client):
    for header in (None, "Basic abc", "Bearer ", "Bearer dbk_not-a-real-key"):
        headers = {"Authorization": header} if header else {}
        response = client.get("/api/v1/subscribers", headers=headers)
        assert response.status_code == 401, header
        assert response.headers["content-type"] == "application/problem+json"


def test_key_creation_validates_scopes_and_is_audited(admin_api, session):
    bad = admin_api.post("/api/v1/api-keys", json={"name": "x", "scopes": ["root"]})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"].startswith("scopes")
    none = admin_api.post("/api/v1/api-keys", json={"name": "x", "scopes": []})
    assert none.status_code == 422

    admin_api.post("/api/v1/api-keys", json={"name": "ticketing", "scopes": ["news:write"]})
    entry = session.scalar(
        select(AuditEntry).where(
            AuditEntry.action == "api_key.created",
            AuditEntry.details["name"].as_string() == "ticketing",
        )
    )
    assert entry is not None
    assert entry.actor_kind == "api_key"
    assert entry.actor_label.startswith("api key test key")


def test_only_admin_keys_create_users_and_the_password_is_shown_once(admin_api, api, client):
    response = admin_api.post(
        "/api/v1/users", json={"email": "Cio@Example.com", "role": "approver"}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["email"] == "cio@example.com" and len(body["password"]) >= 12

    editor_key = api("subscribers:write")
    assert (
        editor_key.post(
            "/api/v1/users", json={"email": "x@example.com", "role": "admin"}
        ).status_code
        == 403
    )
