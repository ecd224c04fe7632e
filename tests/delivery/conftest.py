"""Delivery fixtures: tokens of people allowed (or not) to send."""

import pytest

from app.accounts.models import Role
from tests.conftest import make_user, make_user_token


@pytest.fixture
def people_tokens(engine) -> dict[str, dict[str, str]]:
    tokens = {}
    for role in (Role.approver, Role.viewer, Role.editor):
        user_id = make_user(engine, email=f"{role.value}@example.com", role=role)
        tokens[role.value] = {"Authorization": f"Bearer {make_user_token(engine, user_id)}"}
    return tokens
