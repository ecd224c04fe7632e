"""People, segments and news for composing issues through the API."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from app.accounts.models import Role
from tests.conftest import make_api_key, make_user, make_user_token


@dataclass
class Person:
    user_id: int
    headers: dict[str, str]


@pytest.fixture
def people(client, engine) -> dict[str, Person]:
    """Signed-in users, one per role (two approvers), each with a bearer token."""
    people = {}
    for name, role in (
        ("editor", Role.editor),
        ("approver", Role.approver),
        ("approver2", Role.approver),
        ("viewer", Role.viewer),
        ("admin", Role.admin),
    ):
        email = f"{name}@example.com"
        user_id = make_user(engine, email=email, role=role)
        token = make_user_token(engine, user_id)
        people[name] = Person(user_id=user_id, headers={"Authorization": f"Bearer {token}"})
    return people


@pytest.fixture
def newsroom(client, engine):
    """Post news as an integrating service would; returns the item's JSON."""
    headers = {"Authorization": f"Bearer {make_api_key(engine, 'news:write', name='monitor')}"}
    counter = iter(range(1, 10_000))

    def post(kind: str = "win", *, days_ago: int = 1, **fields) -> dict:
        payload = {
            "source": "monitoring",
            "external_id": f"evt-{next(counter)}",
            "title": f"A {kind} worth telling",
            "body": f"What happened: **{kind}**.",
            "kind": kind,
            "theme": "service desk",
            "occurred_at": (datetime.now(UTC) - timedelta(days=days_ago)).isoformat(),
            **fields,
        }
        response = client.post("/api/v1/news-items", json=payload, headers=headers)
        assert response.status_code in (200, 201), response.text
        return response.json()

    return post


@pytest.fixture
def segments(admin_api: TestClient) -> dict[str, int]:
    """Two target groups: management and all staff."""
    ids = {}
    for name, rule in (
        ("Top management", {"all": [{"field": "role", "op": "eq", "value": "management"}]}),
        ("All staff", {"all": [{"field": "status", "op": "eq", "value": "active"}]}),
    ):
        ids[name] = admin_api.post("/api/v1/segments", json={"name": name, "rule": rule}).json()[
            "id"
        ]
    admin_api.headers.pop("Authorization")
    return ids


@pytest.fixture
def draft(client, people, segments) -> dict:
    """A draft issue for both segments, made by the editor."""
    response = client.post(
        "/api/v1/issues",
        headers=people["editor"].headers,
        json={
            "title": "IT bulletin #1",
            "planned_date": "2026-12-03",
            "segment_ids": list(segments.values()),
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


def add_excerpt(client, person: Person, issue_id: int, **body) -> dict:
    response = client.post(f"/api/v1/issues/{issue_id}/excerpts", json=body, headers=person.headers)
    assert response.status_code == 201, response.text
    return response.json()
