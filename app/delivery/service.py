"""Starting, freezing, pausing, resuming and cancelling the send of an issue."""

from datetime import timedelta

from sqlalchemy import case, func, insert, or_, select, update
from sqlmodel import Session

from app.accounts.principal import Principal
from app.audit.service import record
from app.db import utcnow
from app.delivery.models import (
    FINAL_STATES,
    Delivery,
    DeliveryProgress,
    DeliveryState,
    RunState,
    SendRun,
)
from app.errors import Conflict, Invalid
from app.issues.models import Issue, IssueStatus
from app.issues.service import target_segment_ids
from app.segments import service as segments
from app.segments.models import Segment
from app.subscribers.models import Subscriber, SubscriberStatus

INSERT_CHUNK = 2000


def run_of(session: Session, *, issue_id: int) -> SendRun | None:
    return session.scalar(select(SendRun).where(SendRun.issue_id == issue_id))


def start(session: Session, *, issue: Issue, actor: Principal) -> SendRun:
    """Begin sending an approved (or scheduled) issue; a second call changes nothing."""
    existing = run_of(session, issue_id=issue.id)
    if existing is not None:
        return existing
    if issue.status not in (IssueStatus.approved, IssueStatus.scheduled):
        raise Conflict(f"issue {issue.number} is {issue.status}; only an approved issue is sent")
    if not target_segment_ids(session, issue_id=issue.id):
        raise Invalid("segment_ids", "the issue has no target segment")
    run = SendRun(issue_id=issue.id, started_by=actor.label)
    issue.status = IssueStatus.sending
    issue.updated_at = utcnow()
    session.add_all([run, issue])
    session.flush()
    record(
        session,
        actor=actor,
        action="issue.send_started",
        object_type="issue",
        object_id=issue.id,
        details={"number": issue.number},
    )
    return run


def freeze_audience(session: Session, *, run: SendRun) -> int:
    """One delivery row per active member of any target segment, each address once.

    Runs in one transaction: a crash leaves no half-frozen audience, and the freeze simply
    runs again. Returns the audience size.
    """
    if run.state != RunState.freezing:
        return run.audience_size
    target_ids = target_segment_ids(session, issue_id=run.issue_id)
    targets = list(
        session.scalars(select(Segment).where(Segment.id.in_(target_ids)).order_by(Segment.id))
    )
    # One pass over the subscribers: a row per active member of any target segment, with a
    # flag per segment for its variant. Emails are unique per subscriber (normalized on
    # write), so one row per subscriber is one row per address.
    clauses = [segments.membership_clause(segment) for segment in targets]
    member_of = [case((clause, True), else_=False) for clause in clauses]
    audience = (
        select(Subscriber.id, Subscriber.email, Subscriber.name, *member_of)
        .where(Subscriber.status == SubscriberStatus.active, or_(*clauses))
        .order_by(Subscriber.id)
    )
    now = utcnow()
    rows = [
        {
            "issue_id": run.issue_id,
            "subscriber_id": subscriber_id,
            "email": email,
            "name": name,
            "variant": [s.id for s, member in zip(targets, flags, strict=True) if member],
            "state": DeliveryState.queued,
            "next_attempt_at": now,
            "updated_at": now,
        }
        for subscriber_id, email, name, *flags in (session.execute(audience) if targets else [])
    ]
    for start_index in range(0, len(rows), INSERT_CHUNK):
        session.execute(insert(Delivery), rows[start_index : start_index + INSERT_CHUNK])
    run.audience_size = len(rows)
    run.state = RunState.running
    run.frozen_at = now
    session.add(run)
    session.flush()
    return run.audience_size


def pause(session: Session, *, run: SendRun, actor: Principal, reason: str = "") -> SendRun:
    if run.state not in (RunState.running, RunState.freezing, RunState.paused):
        raise Conflict(f"the send is {run.state}; it cannot be paused")
    run.state = RunState.paused
    run.paused_reason = reason or f"paused by {actor.label}"
    session.add(run)
    record(
        session,
        actor=actor,
        action="issue.send_paused",
        object_type="issue",
        object_id=run.issue_id,
        details={"reason": run.paused_reason},
    )
    return run


def resume(session: Session, *, run: SendRun, actor: Principal) -> SendRun:
    if run.state != RunState.paused:
        raise Conflict(f"the send is {run.state}; only a paused send resumes")
    run.state = RunState.running if run.frozen_at else RunState.freezing
    run.paused_reason = ""
    session.add(run)
    record(
        session,
        actor=actor,
        action="issue.send_resumed",
        object_type="issue",
        object_id=run.issue_id,
    )
    return run


def cancel(session: Session, *, run: SendRun, issue: Issue, actor: Principal) -> SendRun:
    """Stop for good: rows not yet handed to the server are excluded."""
    if run.state in (RunState.done, RunState.cancelled):
        raise Conflict(f"the send is {run.state}")
    session.execute(
        update(Delivery)
        .where(
            Delivery.issue_id == run.issue_id,
            Delivery.state.in_([DeliveryState.queued, DeliveryState.claimed]),
        )
        .values(state=DeliveryState.excluded, last_error="send cancelled", updated_at=utcnow())
    )
    run.state = RunState.cancelled
    run.finished_at = utcnow()
    issue.status = IssueStatus.cancelled
    session.add_all([run, issue])
    record(
        session,
        actor=actor,
        action="issue.send_cancelled",
        object_type="issue",
        object_id=run.issue_id,
    )
    return run


def counts(session: Session, *, issue_id: int) -> dict[str, int]:
    found = dict(
        session.execute(
            select(Delivery.state, func.count())
            .where(Delivery.issue_id == issue_id)
            .group_by(Delivery.state)
        ).all()
    )
    return {state.value: found.get(state.value, 0) for state in DeliveryState}


def progress(session: Session, *, run: SendRun) -> DeliveryProgress:
    by_state = counts(session, issue_id=run.issue_id)
    done = sum(by_state[s] for s in FINAL_STATES)
    since = utcnow() - timedelta(minutes=1)
    last_minute = (
        session.scalar(
            select(func.count()).where(
                Delivery.issue_id == run.issue_id,
                Delivery.state == DeliveryState.sent,
                Delivery.sent_at >= since,
            )
        )
        or 0
    )
    remaining = run.audience_size - done
    eta = remaining / (last_minute / 60) if last_minute and remaining else None
    return DeliveryProgress(
        issue_id=run.issue_id,
        run_state=run.state,
        audience_size=run.audience_size,
        counts=by_state,
        done=done,
        rate_per_minute=float(last_minute),
        eta_seconds=eta,
        paused_reason=run.paused_reason,
    )


def is_complete(session: Session, *, run: SendRun) -> bool:
    """The issue is sent only when every frozen recipient reached a final state."""
    pending = session.scalar(
        select(func.count()).where(
            Delivery.issue_id == run.issue_id,
            or_(
                *(
                    Delivery.state == s
                    for s in (DeliveryState.queued, DeliveryState.claimed, DeliveryState.sending)
                )
            ),
        )
    )
    return run.state == RunState.running and run.frozen_at is not None and pending == 0
