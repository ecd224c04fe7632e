"""The background runner the app's lifespan starts: it polls, wakes on commit, never blocks."""

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.config import Settings
from app.db import unit_of_work
from app.main import create_app
from app.webhooks import service as webhooks
from app.webhooks.models import WebhookDelivery
from tests.conftest import make_api_key
from tests.receiver import wait_until
from tests.webhooks.conftest import add_endpoint, emit_committed


@contextmanager
def running_app(settings: Settings, **overrides) -> Iterator[tuple[FastAPI, TestClient]]:
    """An app of its own with the runner on; the lifespan runs inside the block."""
    app = create_app(settings.model_copy(update={"webhooks_enabled": True, **overrides}))
    try:
        with TestClient(app, base_url="http://testserver") as client:
            runner = app.state.webhook_runner
            wait_until(lambda: runner.last_round_at is not None)  # its first round is done
            yield app, client
    finally:
        app.state.engine.dispose()


def delivery_status(engine, delivery_id: int) -> str:
    with Session(engine) as session:
        return session.get(WebhookDelivery, delivery_id).status


def test_the_runner_delivers_on_its_own_and_stops_on_shutdown(settings, engine, receiver):
    endpoint = add_endpoint(engine, receiver.url())
    with running_app(settings, webhook_poll_seconds=0.1) as (app, _client):
        runner = app.state.webhook_runner
        assert runner.is_alive()
        # Written without emit, as another process would: only polling can find it.
        with unit_of_work(engine) as session:
            delivery = WebhookDelivery(endpoint_id=endpoint.id, event="issue.sent", payload={})
            session.add(delivery)
        wait_until(lambda: delivery_status(engine, delivery.id) == "delivered")
        assert [r.headers["x-drumbeat-event"] for r in receiver.requests] == ["issue.sent"]
    assert not runner.is_alive()


def test_a_commit_that_emitted_wakes_the_runner_at_once(settings, engine, receiver):
    add_endpoint(engine, receiver.url())
    with running_app(settings, webhook_poll_seconds=3600):
        emit_committed(engine, "news_item.created", {"news_item_id": 5})
        # The next poll is an hour away: only the nudge after the commit can send this.
        [request] = receiver.wait_for(1)
        assert request.headers["x-drumbeat-event"] == "news_item.created"


def test_a_savepoint_inside_the_transaction_does_not_use_up_the_wake_up(settings, engine, receiver):
    add_endpoint(engine, receiver.url())
    with running_app(settings, webhook_poll_seconds=3600):
        with unit_of_work(engine) as session:
            with session.begin_nested():
                webhooks.emit(session, event="issue.submitted", payload={"issue_id": 2})
            assert session.info[webhooks.NUDGE_AFTER_COMMIT] is True  # kept for the real commit
            assert receiver.requests == []
        # The outer commit, not the savepoint's, is what wakes the runner.
        [request] = receiver.wait_for(1)
        assert request.headers["x-drumbeat-event"] == "issue.submitted"


def test_the_request_that_emits_returns_while_the_receiver_is_blocked(settings, engine, receiver):
    with running_app(settings, webhook_poll_seconds=3600, webhook_timeout_seconds=30) as (
        _app,
        client,
    ):
        client.headers["Authorization"] = f"Bearer {make_api_key(engine, 'admin')}"
        created = client.post("/api/v1/webhooks", json={"url": receiver.url("/blocked")})
        webhook_id = created.json()["id"]

        # The receiver holds every request until the gate opens, which happens only below.
        response = client.post(f"/api/v1/webhooks/{webhook_id}/ping")
        assert response.status_code == 202
        delivery_id = response.json()["id"]

        [request] = receiver.wait_for(1)  # the runner is sending, the receiver holds it
        assert request.headers["x-drumbeat-delivery"] == str(delivery_id)
        in_flight = client.get(f"/api/v1/webhooks/{webhook_id}/deliveries").json()[0]
        assert (in_flight["status"], in_flight["attempts"]) == ("pending", 1)

        receiver.gate.set()
        wait_until(lambda: delivery_status(engine, delivery_id) == "delivered")


def test_errors_in_the_runner_are_logged_and_do_not_stop_it(tmp_path, caplog):
    # A database without the webhook tables: every round fails.
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'empty.db'}",
        secret_key="test-secret",
        var_dir=tmp_path,
        webhook_poll_seconds=0.05,
    )
    app = create_app(settings)
    with TestClient(app, base_url="http://testserver") as client:

        def failures():
            return [r for r in caplog.records if r.name == "drumbeat.webhooks"]

        wait_until(lambda: len(failures()) >= 2)  # it failed, and kept trying
        assert failures()[0].getMessage().startswith("webhook delivery round failed")
        assert "no such table" in str(failures()[0].exc_info[1])
        assert app.state.webhook_runner.is_alive()
        assert client.get("/healthz").status_code == 200
    app.state.engine.dispose()
