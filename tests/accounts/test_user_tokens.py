"""People use the API with a token from signing in; their role decides what they may do."""

from app.accounts.models import Role
from tests.conftest import TEST_PASSWORD, make_user


def sign_in(client, email, password=TEST_PASSWORD):
    return client.post("/api/v1/auth/token", json={"email": email, "password": password})


def test_a_user_token_carries_the_users_role(client, engine):
    make_user(engine, email="viewer@example.com", role=Role.viewer)
    response = sign_in(client, "Viewer@example.com")
    assert response.status_code == 200
    body = response.json()
    assert body["user"]["role"] == "viewer" and body["token_type"] == "bearer"
    headers = {"Authorization": f"Bearer {body['token']}"}
    assert client.get("/api/v1/subscribers", headers=headers).status_code == 200
    refused = client.post("/api/v1/subscribers", json={"email": "a@example.com"}, headers=headers)
    assert refused.status_code == 403
    assert "viewer@example.com" in refused.json()["detail"]


def test_wrong_password_is_401_and_counts_towards_the_throttle(client, engine):
    make_user(engine, email="editor@example.com")
    for _ in range(5):
        wrong = sign_in(client, "editor@example.com", "not the password")
        assert wrong.status_code == 401
        assert wrong.headers["content-type"] == "application/problem+json"
    throttled = sign_in(client, "editor@example.com")
    assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) >= 1


def test_signing_out_ends_the_token(client, engine):
    make_user(engine, email="editor@example.com")
    token = sign_in(client, "editor@example.com").json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.delete("/api/v1/auth/token", headers=headers).status_code == 204
    assert client.get("/api/v1/subscribers", headers=headers).status_code == 401
