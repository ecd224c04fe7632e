"""Signing in to the studio: cookies, CSRF, throttling, password changes."""

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from app.accounts.models import LoginAttempt, UserSession
from tests.conftest import TEST_PASSWORD, make_user


def csrf_from(page_html: str) -> str:
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', page_html).group(1)


def log_in(client: TestClient, email: str, password: str = TEST_PASSWORD, **headers):
    token = csrf_from(client.get("/studio/login").text)
    return client.post(
        "/studio/login",
        data={"email": email, "password": password, "csrf_token": token, "next": "/studio"},
        headers=headers,
        follow_redirects=False,
    )


def test_the_studio_asks_for_a_login_and_then_shows_the_audience(client, engine):
    make_user(engine, email="editor@example.com")
    first = client.get("/studio", follow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"].startswith("/studio/login")

    response = log_in(client, "Editor@Example.com")
    assert response.status_code == 303 and response.headers["location"] == "/studio"
    cookie = response.headers["set-cookie"]
    assert "drumbeat_session=" in cookie
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie

    home = client.get("/studio")
    assert home.status_code == 200
    assert "editor@example.com" in home.text and "Target groups" in home.text


def test_session_cookie_is_secure_over_https(app, engine):
    make_user(engine, email="editor@example.com")
    with TestClient(app, base_url="https://testserver") as https_client:
        response = log_in(https_client, "editor@example.com")
    assert "Secure" in response.headers["set-cookie"]


def test_wrong_password_is_refused_without_saying_which_part_was_wrong(client, engine):
    make_user(engine, email="editor@example.com")
    wrong = log_in(client, "editor@example.com", "not the password")
    unknown = log_in(client, "nobody@example.com", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert "Email or password is not correct" in wrong.text
    assert "drumbeat_session" not in wrong.headers.get("set-cookie", "")


def test_sixth_attempt_in_a_minute_is_throttled_even_with_the_right_password(client, engine):
    make_user(engine, email="editor@example.com")
    for _ in range(5):
        assert log_in(client, "editor@example.com", "wrong password!").status_code == 401
    throttled = log_in(client, "editor@example.com")
    assert throttled.status_code == 429
    assert 1 <= int(throttled.headers["retry-after"]) <= 60
    # A client cannot escape the throttle by claiming another address in a header.
    spoofed = log_in(client, "editor@example.com", **{"X-Forwarded-For": "203.0.113.9"})
    assert spoofed.status_code == 429


def test_throttle_lifts_after_a_minute(client, engine, session):
    make_user(engine, email="editor@example.com")
    for _ in range(5):
        log_in(client, "editor@example.com", "wrong password!")
    assert log_in(client, "editor@example.com").status_code == 429
    session.execute(
        update(LoginAttempt).values(attempted_at=LoginAttempt.attempted_at - timedelta(seconds=61))
    )
    session.commit()
    assert log_in(client, "editor@example.com").status_code == 303
    assert session.scalar(select(func.count()).select_from(LoginAttempt)) == 0


def test_throttle_counts_per_account(client, engine):
    make_user(engine, email="editor@example.com")
    make_user(engine, email="approver@example.com")
    for _ in range(5):
        log_in(client, "editor@example.com", "wrong password!")
    assert log_in(client, "approver@example.com").status_code == 303


def test_login_without_csrf_token_or_from_another_origin_is_refused(client, engine):
    make_user(engine, email="editor@example.com")
    client.get("/studio/login")
    missing = client.post(
        "/studio/login", data={"email": "editor@example.com", "password": TEST_PASSWORD}
    )
    assert missing.status_code == 403
    foreign = log_in(client, "editor@example.com", Origin="https://evil.example")
    assert foreign.status_code == 403


def test_password_change_ends_the_other_sessions(app, client, engine, session):
    make_user(engine, email="editor@example.com")
    assert log_in(client, "editor@example.com").status_code == 303
    with TestClient(app, base_url="http://testserver") as laptop:
        assert log_in(laptop, "editor@example.com").status_code == 303
        assert laptop.get("/studio", follow_redirects=False).status_code == 200

        token = csrf_from(client.get("/studio/account/password").text)
        changed = client.post(
            "/studio/account/password",
            data={
                "current_password": TEST_PASSWORD,
                "new_password": "a much longer secret",
                "csrf_token": token,
            },
        )
        assert changed.status_code == 200 and "Password changed" in changed.text

        assert laptop.get("/studio", follow_redirects=False).status_code == 303
        assert client.get("/studio", follow_redirects=False).status_code == 200
    assert session.scalar(select(func.count()).select_from(UserSession)) == 1
    assert log_in(client, "editor@example.com", "a much longer secret").status_code == 303


def test_password_change_needs_the_current_password_and_a_long_new_one(client, engine):
    make_user(engine, email="editor@example.com")
    log_in(client, "editor@example.com")
    token = csrf_from(client.get("/studio/account/password").text)
    wrong = client.post(
        "/studio/account/password",
        data={
            "current_password": "guess",
            "new_password": "a much longer secret",
            "csrf_token": token,
        },
    )
    assert wrong.status_code == 422 and "current password is not correct" in wrong.text
    short = client.post(
        "/studio/account/password",
        data={"current_password": TEST_PASSWORD, "new_password": "short", "csrf_token": token},
    )
    assert short.status_code == 422 and "12 characters" in short.text


def test_logout_ends_the_session(client, engine):
    make_user(engine, email="editor@example.com")
    log_in(client, "editor@example.com")
    token = csrf_from(client.get("/studio").text)
    out = client.post("/studio/logout", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/studio", follow_redirects=False).status_code == 303


def test_next_parameter_cannot_send_the_user_to_another_site(client, engine):
    make_user(engine, email="editor@example.com")
    token = csrf_from(client.get("/studio/login?next=//evil.example").text)
    response = client.post(
        "/studio/login",
        data={
            "email": "editor@example.com",
            "password": TEST_PASSWORD,
            "csrf_token": token,
            "next": "https://evil.example/",
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/studio"
