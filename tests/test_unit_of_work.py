"""The request's transaction commits before its response leaves: a client that acts on a
response at once (a browser following a redirect) must see what the request wrote."""

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlmodel import Session

from app.subscribers.models import Subscriber
from tests.conftest import make_api_key


def test_the_write_is_committed_when_the_response_starts(app, engine):
    seen_at_response_start = []

    async def watching_app(scope, receive, send):
        async def watching_send(message):
            if message["type"] == "http.response.start":
                # Another connection, as the browser's next request would use.
                with Session(engine) as other:
                    seen_at_response_start.append(
                        other.scalar(
                            select(Subscriber.email).where(Subscriber.email == "ada@example.com")
                        )
                    )
            await send(message)

        await app(scope, receive, watching_send)

    headers = {"Authorization": f"Bearer {make_api_key(engine, 'admin')}"}
    with TestClient(watching_app, base_url="http://testserver") as client:
        response = client.post(
            "/api/v1/subscribers", json={"email": "ada@example.com"}, headers=headers
        )
    assert response.status_code == 201
    assert seen_at_response_start == ["ada@example.com"]


def test_a_failing_request_writes_nothing(admin_api, session):
    admin_api.post("/api/v1/subscribers", json={"email": "ada@example.com"})
    clash = admin_api.post(
        "/api/v1/subscribers", json={"email": "ADA@example.com", "name": "Second"}
    )
    assert clash.status_code == 409
    assert session.scalars(select(Subscriber.name)).all() == [""]
