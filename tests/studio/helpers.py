"""Signing in without the login form, and reading the CSRF token off a studio page."""

import re

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from app.accounts.models import Role
from app.deps import SESSION_COOKIE
from tests.conftest import make_user, make_user_token

CSRF_IN_PAGE = re.compile(r'"X-CSRF-Token": "([0-9a-f]+)"')


def sign_in(client: TestClient, engine: Engine, role: Role, email: str | None = None) -> int:
    """The client acts as a new user with `role`; returns the user's id."""
    user_id = make_user(engine, email=email or f"{role.value}@example.com", role=role)
    client.cookies.set(SESSION_COOKIE, make_user_token(engine, user_id))
    return user_id


def csrf_of(client: TestClient, path: str = "/studio") -> str:
    """The token the page gives htmx (its cookie is set on the client by the same answer)."""
    return CSRF_IN_PAGE.search(client.get(path).text).group(1)


def htmx(**extra: str) -> dict[str, str]:
    return {"HX-Request": "true", **extra}
