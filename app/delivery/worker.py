"""The send loop: claim a batch, mark it in flight, hand it to the transport, record replies.

Jobs take ids and open their own sessions (`unit_of_work`); nothing about progress lives
only in memory, so any worker can pick up where a crashed one stopped.
"""

import asyncio
import logging
import os
import signal
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.accounts.principal import SYSTEM_PRINCIPAL
from app.audit.service import record
from app.db import unit_of_work, utcnow
from app.delivery import service as sending
from app.delivery.models import Delivery, DeliveryState, RunState, SendRun
from app.delivery.transports import (
    PermanentFailure,
    TemporaryFailure,
    Transport,
    UncertainFailure,
)
from app.issues.models import Issue, IssueStatus
from app.rendering.message import Recipient
from app.rendering.service import Renderer
from app.subscribers.models import Subscriber, SubscriberStatus
from app.webhooks import service as webhooks

log = logging.getLogger("drumbeat.delivery")
BACKOFF_SECONDS = (60, 300, 1800)
# Messages handed to the transport at once, per pooled connection: the pool queues the extra
# ones, and fewer, larger groups mean fewer database round trips per message. The price: a
# crash can leave up to this many rows per connection `unknown`.
IN_FLIGHT_PER_CONNECTION = 4


@dataclass(frozen=True)
class WorkerConfig:
    owner: str = field(default_factory=lambda: f"worker-{os.getpid()}")
    batch_size: int = 100
    in_flight: int = 8  # messages handed to the transport at once (its pool size or more)
    lease_seconds: int = 120
    max_attempts: int = 3
    retry_unknown: bool = False
    error_threshold: float = 0.05
    error_window: int = 200
    idle_poll_seconds: float = 1.0
    backoff_seconds: tuple[float, ...] = BACKOFF_SECONDS


def failpoint(name: str) -> None:
    """Crash tests name a point here (DRUMBEAT_FAILPOINT) to kill the worker exactly there."""
    if os.environ.get("DRUMBEAT_FAILPOINT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


async def send_issue(
    engine: Engine, *, issue_id: int, transport: Transport, renderer: Renderer, config: WorkerConfig
) -> str:
    """Send until nothing is left, or the run is paused or cancelled; returns its state."""
    _freeze_if_needed(engine, issue_id)
    while True:
        recover_expired_leases(engine, issue_id=issue_id, retry_unknown=config.retry_unknown)
        with unit_of_work(engine) as session:
            run = sending.run_of(session, issue_id=issue_id)
            if run is None or run.state != RunState.running:
                return run.state if run else "missing"
            if sending.is_complete(session, run=run):
                _finish(session, run)
                return RunState.done
        claimed = claim(engine, issue_id=issue_id, config=config)
        failpoint("after_claim")
        if not claimed:
            await asyncio.sleep(_wait_for_next_due(engine, issue_id, config))
            continue
        await _send_claimed(engine, issue_id, claimed, transport, renderer, config)
        _pause_on_error_rate(engine, issue_id, config)


def _freeze_if_needed(engine: Engine, issue_id: int) -> None:
    with unit_of_work(engine) as session:
        # Locked: a second worker starting the same send waits for the first one's freeze,
        # then finds the run running (instead of inserting the audience again and failing).
        run = session.scalar(select(SendRun).where(SendRun.issue_id == issue_id).with_for_update())
        if run is not None and run.state == RunState.freezing:
            sending.freeze_audience(session, run=run)
            failpoint("during_freeze")


def claim(engine: Engine, *, issue_id: int, config: WorkerConfig) -> list[int]:
    """Lease a batch of due rows to this worker (SKIP LOCKED on PostgreSQL)."""
    now = utcnow()
    with unit_of_work(engine) as session:
        due = (
            select(Delivery.id)
            .where(
                Delivery.issue_id == issue_id,
                Delivery.state == DeliveryState.queued,
                Delivery.next_attempt_at <= now,
            )
            .order_by(Delivery.next_attempt_at, Delivery.id)
            .limit(config.batch_size)
            .with_for_update(skip_locked=True)
        )
        ids = list(session.scalars(due))
        if not ids:
            return []
        # The state guard makes a row claimed once even where SKIP LOCKED does not exist.
        claimed = list(
            session.scalars(
                update(Delivery)
                .where(Delivery.id.in_(ids), Delivery.state == DeliveryState.queued)
                .values(
                    state=DeliveryState.claimed,
                    lease_owner=config.owner,
                    lease_expires_at=now + timedelta(seconds=config.lease_seconds),
                    updated_at=now,
                )
                .returning(Delivery.id)
            )
        )
        failpoint("during_batch_creation")
        _exclude_lapsed(session, claimed)
    return sorted(claimed)


def _exclude_lapsed(session: Session, ids: list[int]) -> None:
    # Unsubscribes (and bounces) that arrived after the freeze are honoured here.
    lapsed = select(Subscriber.id).where(Subscriber.status != SubscriberStatus.active)
    session.execute(
        update(Delivery)
        .where(
            Delivery.id.in_(ids),
            (Delivery.subscriber_id.is_(None)) | Delivery.subscriber_id.in_(lapsed),
        )
        .values(
            state=DeliveryState.excluded, last_error="no longer subscribed", updated_at=utcnow()
        )
    )


def recover_expired_leases(engine: Engine, *, issue_id: int, retry_unknown: bool) -> None:
    """Rows of a crashed worker: claimed ones go back to the queue; in-flight ones are
    unknown (the server may have accepted them), or queued again if so configured."""
    now = utcnow()
    expired = (Delivery.issue_id == issue_id) & (Delivery.lease_expires_at < now)
    with unit_of_work(engine) as session:
        session.execute(
            update(Delivery)
            .where(expired, Delivery.state == DeliveryState.claimed)
            .values(
                state=DeliveryState.queued, lease_owner="", lease_expires_at=None, updated_at=now
            )
        )
        in_flight_to = DeliveryState.queued if retry_unknown else DeliveryState.unknown
        session.execute(
            update(Delivery)
            .where(expired, Delivery.state == DeliveryState.sending)
            .values(
                state=in_flight_to,
                lease_owner="",
                lease_expires_at=None,
                last_error="worker stopped while the message was in flight",
                updated_at=now,
            )
        )


async def _send_claimed(
    engine: Engine,
    issue_id: int,
    ids: list[int],
    transport: Transport,
    renderer: Renderer,
    config: WorkerConfig,
) -> None:
    with unit_of_work(engine) as session:
        issue = session.get(Issue, issue_id)
        rows = list(
            session.scalars(
                select(Delivery)
                .where(Delivery.id.in_(ids), Delivery.state == DeliveryState.claimed)
                .order_by(Delivery.id)
            )
        )
        people = {
            s.id: s
            for s in session.scalars(
                select(Subscriber).where(Subscriber.id.in_([r.subscriber_id for r in rows]))
            )
        }
        messages = []
        factories = {}  # one per variant: its headers, boundary and encoded chunks
        for row in rows:
            # Compiled once per variant (cached); per recipient only slots are filled.
            compiled = renderer.compiled(session, issue=issue, segment_ids=tuple(row.variant))
            values = renderer.values_for(
                compiled, issue_id=issue_id, subscriber=people[row.subscriber_id]
            )
            factory = factories.get(id(compiled))
            if factory is None:
                factory = factories[id(compiled)] = renderer.factory(compiled, issue_id=issue_id)
            messages.append(
                (
                    row.id,
                    row.email,
                    factory.build(
                        Recipient(subscriber_id=row.subscriber_id, email=row.email, name=row.name),
                        values,
                    ),
                )
            )
    sender = renderer.identity.from_address
    groups = [
        messages[start : start + config.in_flight]
        for start in range(0, len(messages), config.in_flight)
    ]
    # One commit between two groups: it records the replies of one and marks the next in
    # flight, so the database costs one round trip per group instead of two.
    with unit_of_work(engine) as session:
        still_ours = (
            _mark_in_flight(session, [m[0] for m in groups[0]], config) if groups else set()
        )
    failpoint("after_data_marked")
    for index, group in enumerate(groups):
        group = [m for m in group if m[0] in still_ours]
        replies = await asyncio.gather(
            *(
                transport.send(sender=sender, recipient=email, message=data)
                for _, email, data in group
            ),
            return_exceptions=True,
        )
        failpoint("after_reply")
        following = groups[index + 1] if index + 1 < len(groups) else []
        with unit_of_work(engine) as session:
            _record(session, [m[0] for m in group], replies, config)
            failpoint("before_commit")
            still_ours = _mark_in_flight(session, [m[0] for m in following], config)
        if following:
            failpoint("after_data_marked")


def _mark_in_flight(session: Session, ids: list[int], config: WorkerConfig) -> set[int]:
    """Mark rows as handed to the server, only those this worker still holds, renewing the
    lease: a slow batch whose lease ran out may have been reclaimed by another worker."""
    if not ids:
        return set()
    now = utcnow()
    return set(
        session.scalars(
            update(Delivery)
            .where(
                Delivery.id.in_(ids),
                Delivery.state == DeliveryState.claimed,
                Delivery.lease_owner == config.owner,
            )
            .values(
                state=DeliveryState.sending,
                updated_at=now,
                lease_expires_at=now + timedelta(seconds=config.lease_seconds),
            )
            .returning(Delivery.id)
        )
    )


def _record(session: Session, ids: list[int], replies: list, config: WorkerConfig) -> None:
    """Settle each row by its reply; accepted ones (nearly all) in one statement."""
    if not ids:
        return
    now = utcnow()
    accepted = [i for i, reply in zip(ids, replies, strict=True) if isinstance(reply, str)]
    if accepted:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(accepted))
            .values(
                state=DeliveryState.sent,
                sent_at=now,
                last_code=250,
                last_error="",
                lease_owner="",
                lease_expires_at=None,
                updated_at=now,
            )
        )
    for delivery_id, reply in zip(ids, replies, strict=True):
        if isinstance(reply, str):
            continue
        row = session.get(Delivery, delivery_id)
        row.updated_at = now
        row.lease_owner, row.lease_expires_at = "", None
        if isinstance(reply, TemporaryFailure):
            row.attempts += 1
            row.last_code, row.last_error = reply.code, str(reply)[:1000]
            if row.attempts >= config.max_attempts:
                row.state = DeliveryState.failed
            else:
                row.state = DeliveryState.queued
                backoff = config.backoff_seconds
                row.next_attempt_at = now + timedelta(
                    seconds=backoff[min(row.attempts, len(backoff)) - 1]
                )
        elif isinstance(reply, PermanentFailure):
            row.state, row.last_code, row.last_error = (
                DeliveryState.failed,
                reply.code,
                str(reply)[:1000],
            )
            _mark_bounced(session, row.subscriber_id)
        elif isinstance(reply, UncertainFailure):
            row.state = DeliveryState.queued if config.retry_unknown else DeliveryState.unknown
            row.last_error = str(reply)[:1000]
        else:
            log.error("delivery %s failed unexpectedly: %r", delivery_id, reply)
            row.state, row.last_error = DeliveryState.failed, repr(reply)[:1000]
        session.add(row)


def _mark_bounced(session: Session, subscriber_id: int | None) -> None:
    subscriber = session.get(Subscriber, subscriber_id) if subscriber_id else None
    if subscriber is not None and subscriber.status == SubscriberStatus.active:
        subscriber.status = SubscriberStatus.bounced
        subscriber.status_changed_at = utcnow()
        session.add(subscriber)


def _pause_on_error_rate(engine: Engine, issue_id: int, config: WorkerConfig) -> None:
    with unit_of_work(engine) as session:
        recent = list(
            session.scalars(
                select(Delivery.state)
                .where(
                    Delivery.issue_id == issue_id,
                    Delivery.state.in_([DeliveryState.sent, DeliveryState.failed]),
                )
                .order_by(Delivery.updated_at.desc())
                .limit(config.error_window)
            )
        )
        failed = recent.count(DeliveryState.failed)
        if len(recent) >= 20 and failed / len(recent) > config.error_threshold:
            run = sending.run_of(session, issue_id=issue_id)
            if run is not None and run.state == RunState.running:
                sending.pause(
                    session,
                    run=run,
                    actor=SYSTEM_PRINCIPAL,
                    reason=f"{failed} of the last {len(recent)} messages failed",
                )


def _wait_for_next_due(engine: Engine, issue_id: int, config: WorkerConfig) -> float:
    with unit_of_work(engine) as session:
        next_due = session.scalar(
            select(func.min(Delivery.next_attempt_at)).where(
                Delivery.issue_id == issue_id, Delivery.state == DeliveryState.queued
            )
        )
    if next_due is None:
        return config.idle_poll_seconds
    return max(0.05, min(config.idle_poll_seconds, (next_due - utcnow()).total_seconds()))


def _finish(session: Session, run: SendRun) -> None:
    # Two workers can see the last row settle at the same moment: only the one that moves the
    # run from running to done records and announces it (the other's update waits, then
    # matches nothing).
    moved = session.execute(
        update(SendRun)
        .where(SendRun.id == run.id, SendRun.state == RunState.running)
        .values(state=RunState.done, finished_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        return
    issue = session.get(Issue, run.issue_id)
    issue.status = IssueStatus.sent
    session.add(issue)
    by_state = sending.counts(session, issue_id=run.issue_id)
    record(
        session,
        actor=SYSTEM_PRINCIPAL,
        action="issue.sent",
        object_type="issue",
        object_id=issue.id,
        details={"counts": by_state},
    )
    webhooks.emit(
        session,
        event="issue.sent",
        payload={
            "issue_id": issue.id,
            "number": issue.number,
            "title": issue.title,
            "audience_size": run.audience_size,
            "sent": by_state["sent"],
            "failed": by_state["failed"],
            "unknown": by_state["unknown"],
            "excluded": by_state["excluded"],
        },
    )
