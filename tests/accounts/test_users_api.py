"""Admins manage studio users over the API as in the studio's settings: list, change a role,
deactivate and reactivate, reset a password. Each change ends the user's sessions."""

from sqlalchemy import select

from app.accounts.models import Role
from app.audit.models import AuditEntry
from tests.conftest import TEST_PASSWORD, make_user, make_user_token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def signs_in(client, email: str, password: str = TEST_PASSWORD) -> bool:
    answer = client.post(
        "/api/v1/auth/token", json={"email": email, "password": password}, headers=bearer("")
    )
    return answer.status_code == 200


def test_an_admin_lists_and_reads_users(admin_api, engine):
    editor = make_user(engine, email="editor@example.com")
    make_user(engine, email="boss@example.com", role=Role.admin)
    listed = admin_api.get("/api/v1/users").json()
    assert [u["email"] for u in listed] == ["boss@example.com", "editor@example.com"]
    assert "password_hash" not in listed[0]
    assert admin_api.get(f"/api/v1/users/{editor}").json()["role"] == "editor"
    missing = admin_api.get("/api/v1/users/999999")
    assert missing.status_code == 404 and "user 999999" in missing.json()["detail"]


def test_a_new_role_takes_effect_and_ends_the_users_tokens(admin_api, client, engine, session):
    editor = make_user(engine, email="editor@example.com")
    token = make_user_token(engine, editor)
    assert client.get("/api/v1/subscribers", headers=bearer(token)).status_code == 200

    changed = admin_api.patch(f"/api/v1/users/{editor}", json={"role": "viewer"})
    assert changed.status_code == 200 and changed.json()["role"] == "viewer"
    assert client.get("/api/v1/subscribers", headers=bearer(token)).status_code == 401
    audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "user.role_changed"))
    assert [(a.details["from"], a.details["to"]) for a in audit] == [("editor", "viewer")]


def test_a_deactivated_user_cannot_sign_in_until_reactivated(admin_api, client, engine):
    editor = make_user(engine, email="editor@example.com")
    token = make_user_token(engine, editor)
    off = admin_api.patch(f"/api/v1/users/{editor}", json={"is_active": False})
    assert off.status_code == 200 and off.json()["is_active"] is False
    assert client.get("/api/v1/subscribers", headers=bearer(token)).status_code == 401
    assert not signs_in(client, "editor@example.com")

    assert admin_api.patch(f"/api/v1/users/{editor}", json={"is_active": True}).status_code == 200
    assert signs_in(client, "editor@example.com")


def test_the_last_active_admin_is_kept(admin_api, engine):
    boss = make_user(engine, email="boss@example.com", role=Role.admin)
    for change, field in (({"role": "editor"}, "role"), ({"is_active": False}, "is_active")):
        refused = admin_api.patch(f"/api/v1/users/{boss}", json=change)
        assert refused.status_code == 409
        assert refused.json()["errors"][0]["field"] == field
        assert "last active admin" in refused.json()["errors"][0]["reason"]
    kept = admin_api.get(f"/api/v1/users/{boss}").json()
    assert kept["role"] == "admin" and kept["is_active"] is True


def test_a_reset_password_is_shown_once_and_ends_the_old_one(admin_api, client, engine):
    editor = make_user(engine, email="editor@example.com")
    token = make_user_token(engine, editor)
    reset = admin_api.post(f"/api/v1/users/{editor}/password")
    assert reset.status_code == 200 and reset.headers["cache-control"] == "no-store"
    password = reset.json()["password"]
    assert len(password) >= 12
    assert client.get("/api/v1/subscribers", headers=bearer(token)).status_code == 401
    assert not signs_in(client, "editor@example.com")
    assert signs_in(client, "editor@example.com", password)


def test_only_admins_manage_users_and_bad_input_names_the_field(admin_api, api, engine):
    editor = make_user(engine, email="editor@example.com")
    refused = admin_api.patch(f"/api/v1/users/{editor}", json={"role": "owner"})
    assert refused.status_code == 422 and "role" in str(refused.json()["errors"])
    # JSON's booleans only: "no" is not false (pydantic's lax mode would take it).
    refused = admin_api.patch(f"/api/v1/users/{editor}", json={"is_active": "no"})
    assert refused.status_code == 422 and "is_active" in str(refused.json()["errors"])
    assert admin_api.get(f"/api/v1/users/{editor}").json()["is_active"] is True

    not_admin = api("subscribers:write", "news:write")
    assert not_admin.get("/api/v1/users").status_code == 403
    assert not_admin.patch(f"/api/v1/users/{editor}", json={"role": "admin"}).status_code == 403
    assert not_admin.post(f"/api/v1/users/{editor}/password").status_code == 403
