"""Sending through the ledger into real SMTP servers: each recipient once, faults handled."""

import asyncio
import email
import email.policy
import time
from datetime import timedelta

from sqlalchemy import select, update
from sqlmodel import Session

from app.accounts.principal import CLI_PRINCIPAL
from app.db import unit_of_work, utcnow
from app.delivery import service as sending
from app.delivery.models import Delivery, DeliveryState, RunState, SendRun
from app.delivery.transports import transport_from_url
from app.delivery.worker import WorkerConfig, claim, recover_expired_leases, send_issue
from app.issues.models import Issue
from app.subscribers.models import Subscriber, SubscriberStatus
from app.webhooks.models import WebhookDelivery
from tests.conftest import run_coroutine
from tests.delivery.factories import approved_issue, issue_status, people, static_segment

FAST = WorkerConfig(
    owner="test",
    batch_size=10,
    in_flight=4,
    idle_poll_seconds=0.05,
    backoff_seconds=(0.05, 0.05, 0.05),
)


def start(engine, issue_id):
    with unit_of_work(engine) as session:
        sending.start(session, issue=session.get(Issue, issue_id), actor=CLI_PRINCIPAL)


def run_send(app, engine, issue_id, url, config=FAST) -> str:
    async def go():
        transport = transport_from_url(url, pool_size=4)
        try:
            return await send_issue(
                engine,
                issue_id=issue_id,
                transport=transport,
                renderer=app.state.renderer,
                config=config,
            )
        finally:
            await transport.close()

    return run_coroutine(go())


def states(engine, issue_id) -> dict[str, int]:
    with Session(engine) as session:
        return sending.counts(session, issue_id=issue_id)


def test_every_recipient_gets_one_personal_message_and_the_issue_is_sent(app, engine, smtp_sink):
    ids = people(engine, 25)
    issue_id = approved_issue(engine, [static_segment(engine, "All", ids)])
    start(engine, issue_id)

    assert run_send(app, engine, issue_id, smtp_sink.url()) == RunState.done
    recipients = sorted(r for m in smtp_sink.received for r in m.rcpt_tos)
    assert recipients == sorted(f"p{i}@example.com" for i in range(25))
    message = email.message_from_bytes(smtp_sink.received[0].content, policy=email.policy.default)
    person = message["To"].addresses[0]
    assert person.display_name.startswith("Person p")
    html = message.get_body(("html",)).get_content()
    assert f"Hello {person.display_name.split()[0]}, it is." in html
    assert states(engine, issue_id)["sent"] == 25
    assert issue_status(engine, issue_id) == "sent"
    with Session(engine) as session:
        run = sending.run_of(session, issue_id=issue_id)
        assert run.audience_size == 25 and run.finished_at is not None


def test_a_second_send_changes_nothing(app, engine, smtp_sink):
    issue_id = approved_issue(engine, [static_segment(engine, "All", people(engine, 3))])
    start(engine, issue_id)
    run_send(app, engine, issue_id, smtp_sink.url())
    start(engine, issue_id)
    assert run_send(app, engine, issue_id, smtp_sink.url()) == RunState.done
    assert len(smtp_sink.received) == 3


def test_temporary_failures_are_retried_and_permanent_ones_bounce(app, engine, faulty_smtp):
    ids = people(engine, 4)
    issue_id = approved_issue(engine, [static_segment(engine, "All", ids)])
    start(engine, issue_id)
    faulty_smtp.answer("RCPT", "451 4.3.0 try later", times=2)
    faulty_smtp.answer("RCPT", "550 5.1.1 no such user")

    assert run_send(app, engine, issue_id, faulty_smtp.url()) == RunState.done
    counts = states(engine, issue_id)
    assert counts["sent"] == 3 and counts["failed"] == 1
    assert 503 not in faulty_smtp.replies()
    with Session(engine) as session:
        failed = session.scalar(select(Delivery).where(Delivery.state == DeliveryState.failed))
        assert failed.last_code == 550
        assert session.get(Subscriber, failed.subscriber_id).status == SubscriberStatus.bounced


def test_temporary_failures_give_up_after_three_attempts(app, engine, faulty_smtp):
    issue_id = approved_issue(engine, [static_segment(engine, "One", people(engine, 1))])
    start(engine, issue_id)
    faulty_smtp.answer("MAIL", "451 4.3.0 busy", times=5)
    run_send(app, engine, issue_id, faulty_smtp.url())
    with Session(engine) as session:
        row = session.scalar(select(Delivery))
        assert row.state == DeliveryState.failed and row.attempts == 3


def test_a_drop_after_the_data_is_unknown_and_not_sent_twice(app, engine, faulty_smtp):
    issue_id = approved_issue(engine, [static_segment(engine, "One", people(engine, 1))])
    start(engine, issue_id)
    faulty_smtp.drop("END")
    assert run_send(app, engine, issue_id, faulty_smtp.url()) == RunState.done
    assert states(engine, issue_id)["unknown"] == 1
    assert len(faulty_smtp.received) == 1  # it arrived once; no retry duplicated it


def test_unsubscribes_after_the_freeze_are_honoured(app, engine, smtp_sink):
    ids = people(engine, 3)
    issue_id = approved_issue(engine, [static_segment(engine, "All", ids)])
    start(engine, issue_id)
    with unit_of_work(engine) as session:
        sending.freeze_audience(session, run=sending.run_of(session, issue_id=issue_id))
        session.get(Subscriber, ids[1]).status = SubscriberStatus.unsubscribed
    run_send(app, engine, issue_id, smtp_sink.url())
    assert sorted(r for m in smtp_sink.received for r in m.rcpt_tos) == [
        "p0@example.com",
        "p2@example.com",
    ]
    assert states(engine, issue_id)["excluded"] == 1


def test_pause_stops_the_send_and_resume_finishes_it(app, engine, smtp_sink):
    issue_id = approved_issue(engine, [static_segment(engine, "All", people(engine, 5))])
    start(engine, issue_id)
    with unit_of_work(engine) as session:
        sending.pause(session, run=sending.run_of(session, issue_id=issue_id), actor=CLI_PRINCIPAL)
    assert run_send(app, engine, issue_id, smtp_sink.url()) == RunState.paused
    assert smtp_sink.received == []
    with unit_of_work(engine) as session:
        sending.resume(session, run=sending.run_of(session, issue_id=issue_id), actor=CLI_PRINCIPAL)
    assert run_send(app, engine, issue_id, smtp_sink.url()) == RunState.done
    assert len(smtp_sink.received) == 5


def test_cancel_excludes_what_was_not_sent(app, engine):
    issue_id = approved_issue(engine, [static_segment(engine, "All", people(engine, 4))])
    start(engine, issue_id)
    with unit_of_work(engine) as session:
        run = sending.run_of(session, issue_id=issue_id)
        sending.freeze_audience(session, run=run)
        sending.cancel(session, run=run, issue=session.get(Issue, issue_id), actor=CLI_PRINCIPAL)
    assert states(engine, issue_id)["excluded"] == 4
    assert issue_status(engine, issue_id) == "cancelled"


def test_too_many_failures_pause_the_send(app, engine, faulty_smtp):
    issue_id = approved_issue(engine, [static_segment(engine, "All", people(engine, 30))])
    start(engine, issue_id)
    faulty_smtp.answer("RCPT", "550 5.1.1 unknown", times=30)
    config = WorkerConfig(owner="t", batch_size=30, in_flight=30, idle_poll_seconds=0.05)
    assert run_send(app, engine, issue_id, faulty_smtp.url(), config) == RunState.paused
    with Session(engine) as session:
        assert "failed" in sending.run_of(session, issue_id=issue_id).paused_reason


def test_a_crashed_workers_leases_are_recovered(app, engine, smtp_sink):
    issue_id = approved_issue(engine, [static_segment(engine, "All", people(engine, 4))])
    start(engine, issue_id)
    with unit_of_work(engine) as session:
        sending.freeze_audience(session, run=sending.run_of(session, issue_id=issue_id))
    claimed = claim(engine, issue_id=issue_id, config=FAST)
    with unit_of_work(engine) as session:  # the worker died: one row was in flight
        session.execute(
            update(Delivery).where(Delivery.id == claimed[0]).values(state=DeliveryState.sending)
        )
        session.execute(update(Delivery).values(lease_expires_at=utcnow() - timedelta(1)))
    recover_expired_leases(engine, issue_id=issue_id, retry_unknown=False)
    assert states(engine, issue_id)["unknown"] == 1 and states(engine, issue_id)["queued"] == 3
    run_send(app, engine, issue_id, smtp_sink.url())
    assert len(smtp_sink.received) == 3


def test_the_issue_sent_event_fires_once(app, engine, smtp_sink, admin_api):
    admin_api.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["*"]})
    issue_id = approved_issue(engine, [static_segment(engine, "All", people(engine, 2))])
    start(engine, issue_id)
    run_send(app, engine, issue_id, smtp_sink.url())
    with Session(engine) as session:
        events = session.scalars(select(WebhookDelivery.event)).all()
    assert events.count("issue.sent") == 1


def test_the_api_sends_in_process_and_reports_progress(client, engine, people_tokens):
    ids = people(engine, 6)
    issue_id = approved_issue(engine, [static_segment(engine, "All", ids)])
    approver, viewer = people_tokens["approver"], people_tokens["viewer"]
    assert client.post(f"/api/v1/issues/{issue_id}/send", headers=viewer).status_code == 403
    response = client.post(f"/api/v1/issues/{issue_id}/send", headers=approver)
    assert response.status_code == 202
    deadline = utcnow() + timedelta(seconds=20)
    while utcnow() < deadline:
        progress = client.get(f"/api/v1/issues/{issue_id}/delivery", headers=viewer).json()
        if progress["run_state"] == "done":
            break
        time.sleep(0.05)
    assert progress["counts"]["sent"] == 6 and progress["done"] == 6
    with Session(engine) as session:
        assert session.scalar(select(SendRun.state)) == RunState.done


def test_the_outbox_lists_what_make_run_sent(client, engine, people_tokens, admin_api):
    before = {m["key"] for m in admin_api.get("/api/v1/outbox").json()}
    issue_id = approved_issue(engine, [static_segment(engine, "All", people(engine, 2))])
    client.post(f"/api/v1/issues/{issue_id}/send", headers=people_tokens["approver"])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and issue_status(engine, issue_id) != "sent":
        time.sleep(0.05)
    listed = [m for m in admin_api.get("/api/v1/outbox").json() if m["key"] not in before]
    assert sorted(m["recipient"] for m in listed) == ["p0@example.com", "p1@example.com"]
    raw = admin_api.get(f"/api/v1/outbox/{listed[0]['key']}")
    assert raw.headers["content-type"] == "message/rfc822" and b"List-Unsubscribe:" in raw.content
    assert admin_api.get("/api/v1/outbox/nope").status_code == 404
    assert client.get("/api/v1/outbox", headers=people_tokens["viewer"]).status_code == 403


def test_rows_reclaimed_by_another_worker_are_not_sent_twice(app, engine, smtp_sink):
    issue_id = approved_issue(engine, [static_segment(engine, "All", people(engine, 3))])
    start(engine, issue_id)
    with unit_of_work(engine) as session:
        sending.freeze_audience(session, run=sending.run_of(session, issue_id=issue_id))
    # A slow worker's lease ran out and another worker holds the rows now.
    with unit_of_work(engine) as session:
        session.execute(
            update(Delivery).values(
                state=DeliveryState.claimed,
                lease_owner="other-worker",
                lease_expires_at=utcnow() + timedelta(60),
            )
        )
    from app.delivery.worker import _send_claimed

    async def slow_worker():
        transport = transport_from_url(smtp_sink.url(), pool_size=1)
        with Session(engine) as session:
            ids = list(session.scalars(select(Delivery.id)))
        await _send_claimed(engine, issue_id, ids, transport, app.state.renderer, FAST)
        await transport.close()

    asyncio.run(slow_worker())
    assert smtp_sink.received == []
    assert states(engine, issue_id)["claimed"] == 3
