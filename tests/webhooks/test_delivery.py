"""The outbox and its dispatcher: emit in a transaction, deliver_due to a real HTTP receiver."""

import json
import threading
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import Session

from app.accounts.principal import CLI_PRINCIPAL
from app.db import unit_of_work, utcnow
from app.webhooks import service as webhooks
from app.webhooks.models import WebhookDelivery, WebhookEndpointUpdate
from app.webhooks.signing import verify_signature
from app.webhooks.tasks import BACKOFF, CLAIM_LEASE, Outcome, claim_next, deliver_due
from app.webhooks.tasks import record_outcome as record_delivery_outcome
from tests.webhooks.conftest import add_endpoint, emit_committed


def deliveries(engine) -> list[WebhookDelivery]:
    with Session(engine) as session:
        return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def only_delivery(engine) -> WebhookDelivery:
    [delivery] = deliveries(engine)
    return delivery


def test_a_delivery_arrives_signed_with_the_envelope(engine, receiver, http):
    endpoint = add_endpoint(engine, receiver.url())
    occurred = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
    emit_committed(
        engine,
        "news_item.created",
        {"news_item_id": 7, "title": "Störung behoben", "occurred_at": occurred},
    )

    assert deliver_due(engine, client=http) == 1

    [request] = receiver.requests
    delivery = only_delivery(engine)
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == "Drumbeat-Webhooks"
    assert request.headers["x-drumbeat-event"] == "news_item.created"
    assert request.headers["x-drumbeat-delivery"] == str(delivery.id)
    assert verify_signature(endpoint.secret, request.headers["x-drumbeat-signature"], request.body)
    assert json.loads(request.body) == {
        "id": delivery.id,
        "event": "news_item.created",
        "created_at": delivery.created_at.isoformat().replace("+00:00", "Z"),
        "data": {
            "news_item_id": 7,
            "title": "Störung behoben",
            "occurred_at": "2026-11-26T09:30:00Z",
        },
    }
    assert delivery.status == "delivered"
    assert delivery.attempts == 1
    assert delivery.last_status_code == 200
    assert delivery.last_error is None
    assert delivery.delivered_at is not None
    assert delivery.next_attempt_at is None

    assert deliver_due(engine, client=http) == 0
    assert len(receiver.requests) == 1


def test_only_active_endpoints_subscribed_to_the_event_get_it(engine):
    everything = add_endpoint(engine, "https://all.example.com/hook")
    sent_only = add_endpoint(engine, "https://sent.example.com/hook", events=["issue.sent"])
    add_endpoint(engine, "https://off.example.com/hook", is_active=False)

    emit_committed(engine, "issue.approved", {"issue_id": 3})
    emit_committed(engine, "issue.sent", {"issue_id": 3})

    assert [(d.endpoint_id, d.event) for d in deliveries(engine)] == [
        (everything.id, "issue.approved"),
        (everything.id, "issue.sent"),
        (sent_only.id, "issue.sent"),
    ]


def test_emit_refuses_an_unknown_event(session):
    with pytest.raises(ValueError, match=r"unknown webhook event 'issue\.deleted'"):
        webhooks.emit(session, event="issue.deleted", payload={})


def test_a_rolled_back_transaction_sends_nothing(engine, receiver, http):
    add_endpoint(engine, receiver.url())
    with pytest.raises(RuntimeError), unit_of_work(engine) as session:
        webhooks.emit(session, event="issue.submitted", payload={"issue_id": 1})
        assert len(session.scalars(select(WebhookDelivery)).all()) == 1
        raise RuntimeError("the issue could not be submitted after all")

    assert deliver_due(engine, client=http) == 0
    assert deliveries(engine) == []
    assert receiver.requests == []


def test_nothing_is_sent_before_the_transaction_commits(engine, receiver, http):
    add_endpoint(engine, receiver.url())
    with Session(engine) as session:
        webhooks.emit(session, event="issue.approved", payload={"issue_id": 1})
        # Flushed but not committed: the dispatcher, on its own connection, must not see it.
        assert deliver_due(engine, client=http) == 0
        assert receiver.requests == []
        session.commit()

    assert deliver_due(engine, client=http) == 1
    assert [r.headers["x-drumbeat-event"] for r in receiver.requests] == ["issue.approved"]


def test_a_failed_attempt_is_retried_after_the_backoff(engine, receiver, http):
    endpoint = add_endpoint(engine, receiver.url())
    emit_committed(engine, "issue.sent", {"issue_id": 4})
    receiver.answer_with(500)
    first_at = utcnow()

    assert deliver_due(engine, client=http, now=first_at) == 1
    delivery = only_delivery(engine)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    assert delivery.last_error == "HTTP 500: scripted answer"
    assert delivery.next_attempt_at == first_at + BACKOFF[0]

    assert deliver_due(engine, client=http, now=first_at + BACKOFF[0] - timedelta(seconds=1)) == 0
    second_at = first_at + BACKOFF[0]
    assert deliver_due(engine, client=http, now=second_at) == 1

    delivery = only_delivery(engine)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 2, 200)
    assert delivery.last_error is None
    assert delivery.delivered_at == second_at
    first, second = receiver.requests
    assert first.body == second.body  # the same event, same id: receivers deduplicate on it
    for request, sent_at in ((first, first_at), (second, second_at)):
        signature = request.headers["x-drumbeat-signature"]
        assert signature.startswith(f"t={int(sent_at.timestamp())},v1=")
        assert verify_signature(endpoint.secret, signature, request.body, now=sent_at.timestamp())


def test_after_the_last_attempt_the_delivery_fails_keeping_the_last_error(engine, receiver, http):
    add_endpoint(engine, receiver.url())
    emit_committed(engine)
    receiver.answer_with(500, 502, 500, 500, 500, 503)
    now = utcnow()
    waits = []
    for _attempt in range(6):
        assert deliver_due(engine, client=http, now=now) == 1
        delivery = only_delivery(engine)
        if delivery.next_attempt_at is not None:
            waits.append(delivery.next_attempt_at - now)
            now = delivery.next_attempt_at

    assert waits == list(BACKOFF)
    delivery = only_delivery(engine)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", 6, 503)
    assert delivery.last_error == "HTTP 503: scripted answer"
    assert delivery.next_attempt_at is None
    assert delivery.delivered_at is None
    assert deliver_due(engine, client=http, now=now + timedelta(days=30)) == 0
    assert len(receiver.requests) == 6


def test_max_attempts_is_configurable(engine, receiver, http):
    add_endpoint(engine, receiver.url())
    emit_committed(engine)
    receiver.answer_with(500)
    assert deliver_due(engine, client=http, max_attempts=1) == 1
    assert only_delivery(engine).status == "failed"


def test_a_refused_connection_counts_as_a_failed_attempt(engine, refused_url, http):
    add_endpoint(engine, refused_url)
    emit_committed(engine)
    now = utcnow()

    assert deliver_due(engine, client=http, now=now) == 1
    delivery = only_delivery(engine)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, None)
    assert delivery.last_error.startswith("ConnectError: ")
    assert delivery.next_attempt_at == now + BACKOFF[0]


def test_a_timeout_counts_as_a_failed_attempt(engine, receiver):
    add_endpoint(engine, receiver.url("/blocked"))
    emit_committed(engine)

    with httpx.Client(timeout=0.5) as impatient:
        assert deliver_due(engine, client=impatient) == 1
    assert len(receiver.requests) == 1
    delivery = only_delivery(engine)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, None)
    assert delivery.last_error.startswith("ReadTimeout: ")


def test_deliveries_of_an_inactive_endpoint_wait_until_it_is_active_again(engine, receiver, http):
    endpoint = add_endpoint(engine, receiver.url())
    emit_committed(engine)

    def set_active(is_active: bool) -> None:
        with unit_of_work(engine) as session:
            webhooks.update(
                session,
                endpoint=webhooks.get(session, endpoint_id=endpoint.id),
                data=WebhookEndpointUpdate(is_active=is_active),
                actor=CLI_PRINCIPAL,
            )

    set_active(False)
    assert deliver_due(engine, client=http) == 0
    assert only_delivery(engine).status == "pending"
    set_active(True)
    assert deliver_due(engine, client=http) == 1
    assert only_delivery(engine).status == "delivered"


def test_a_delivery_claimed_by_a_worker_that_died_is_sent_after_its_lease(engine, receiver, http):
    add_endpoint(engine, receiver.url())
    emit_committed(engine)
    claimed_at = utcnow()
    dead_workers_claim = claim_next(engine, now=claimed_at)
    assert dead_workers_claim is not None

    assert deliver_due(engine, client=http, now=claimed_at + timedelta(minutes=1)) == 0
    assert deliver_due(engine, client=http, now=claimed_at + CLAIM_LEASE) == 1
    assert (only_delivery(engine).status, only_delivery(engine).attempts) == ("delivered", 2)

    # The first worker wakes up and reports a failure: the row is no longer its to change.
    record_delivery_outcome(
        engine, dead_workers_claim, Outcome(500, "HTTP 500"), now=claimed_at, max_attempts=1
    )
    assert only_delivery(engine).status == "delivered"


def test_two_dispatchers_at_once_never_send_one_delivery_twice(engine, receiver):
    add_endpoint(engine, receiver.url("/slowish"))
    for number in range(30):
        emit_committed(engine, "news_item.created", {"news_item_id": number})
    start = threading.Barrier(2)
    attempted: list[int] = []
    errors: list[BaseException] = []

    def dispatcher() -> None:
        try:
            with httpx.Client(timeout=5) as client:
                start.wait(timeout=10)
                attempted.append(deliver_due(engine, client=client, limit=100))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=dispatcher) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sum(attempted) == 30
    sent_ids = [r.headers["x-drumbeat-delivery"] for r in receiver.requests]
    assert len(sent_ids) == 30
    assert len(set(sent_ids)) == 30
    assert {(d.status, d.attempts) for d in deliveries(engine)} == {("delivered", 1)}
