"""The way of an issue: draft -> in_review -> approved -> scheduled -> sending -> sent.

Every transition is audited. An unbalanced regular issue (no wins, or no open work) is
submitted and approved only with a written reason; an approver may not approve what they
submitted themselves unless they are an admin, which is recorded as an override.
"""

from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from app.accounts.models import Role
from app.accounts.principal import Principal
from app.audit.service import record
from app.db import utcnow
from app.errors import Conflict, Forbidden, Invalid
from app.issues import overview
from app.issues.models import Excerpt, Issue, IssueKind, IssueStatus
from app.issues.service import target_segment_ids
from app.webhooks import service as webhooks

MIN_REASON_LENGTH = 10

NEXT_STATES: dict[IssueStatus, set[IssueStatus]] = {
    IssueStatus.draft: {IssueStatus.in_review, IssueStatus.cancelled},
    IssueStatus.in_review: {IssueStatus.approved, IssueStatus.draft, IssueStatus.cancelled},
    IssueStatus.approved: {IssueStatus.scheduled, IssueStatus.draft, IssueStatus.cancelled},
    IssueStatus.scheduled: {IssueStatus.approved, IssueStatus.draft, IssueStatus.cancelled},
    IssueStatus.sending: set(),
    IssueStatus.sent: set(),
    IssueStatus.cancelled: set(),
}


def submit(
    session: Session, *, issue: Issue, actor: Principal, override_reason: str | None
) -> Issue:
    """An editor hands the issue to the approvers."""
    _require_transition(issue, IssueStatus.in_review, verb="submitted")
    _require_content(session, issue)
    reason = _balance_override(session, issue, override_reason)
    issue.status = IssueStatus.in_review
    issue.submitted_by_id = actor.id if actor.kind == "user" else None
    issue.submitted_at = utcnow()
    issue.balance_override_reason = reason
    _transitioned(session, issue, actor, "issue.submitted", {"override_reason": reason})
    webhooks.emit(session, event="issue.submitted", payload=_event_payload(issue))
    return issue


def approve(
    session: Session, *, issue: Issue, actor: Principal, override_reason: str | None
) -> Issue:
    """An approver other than the submitter approves (an admin may override, audited)."""
    _require_transition(issue, IssueStatus.approved, verb="approved")
    self_approval = actor.kind == "user" and actor.id == issue.submitted_by_id
    if self_approval and actor.role != Role.admin:
        raise Forbidden("you submitted this issue; another approver must approve it")
    reason = _balance_override(session, issue, override_reason)
    issue.status = IssueStatus.approved
    issue.approved_by_id = actor.id if actor.kind == "user" else None
    issue.approved_at = utcnow()
    if reason:
        issue.balance_override_reason = reason
    _transitioned(
        session,
        issue,
        actor,
        "issue.approved",
        {"override_reason": reason, "self_approval_override": self_approval},
    )
    webhooks.emit(session, event="issue.approved", payload=_event_payload(issue))
    return issue


def schedule(session: Session, *, issue: Issue, actor: Principal, send_at: datetime) -> Issue:
    """Set when an approved issue goes out."""
    _require_transition(issue, IssueStatus.scheduled, verb="scheduled")
    if send_at.tzinfo is None:
        raise Invalid("send_at", "give a time zone, e.g. 2026-12-03T08:00:00+01:00")
    if send_at <= utcnow():
        raise Invalid("send_at", "must be in the future")
    issue.status = IssueStatus.scheduled
    issue.send_at = send_at
    return _transitioned(session, issue, actor, "issue.scheduled", {"send_at": send_at.isoformat()})


def unschedule(session: Session, *, issue: Issue, actor: Principal) -> Issue:
    """Take a scheduled issue off the calendar; it stays approved."""
    if issue.status != IssueStatus.scheduled:
        raise Conflict(f"issue {issue.number} is {issue.status}, not scheduled")
    issue.status = IssueStatus.approved
    issue.send_at = None
    return _transitioned(session, issue, actor, "issue.unscheduled", {})


def return_to_draft(session: Session, *, issue: Issue, actor: Principal, comment: str) -> Issue:
    """Send the issue back to its editor (for example with an approver's remarks)."""
    _require_transition(issue, IssueStatus.draft, verb="returned to draft")
    issue.status = IssueStatus.draft
    issue.approved_by_id = issue.approved_at = issue.send_at = None
    return _transitioned(session, issue, actor, "issue.returned_to_draft", {"comment": comment})


def cancel(session: Session, *, issue: Issue, actor: Principal) -> Issue:
    _require_transition(issue, IssueStatus.cancelled, verb="cancelled")
    issue.status = IssueStatus.cancelled
    return _transitioned(session, issue, actor, "issue.cancelled", {})


def _require_transition(issue: Issue, target: IssueStatus, *, verb: str) -> None:
    if target not in NEXT_STATES[IssueStatus(issue.status)]:
        raise Conflict(f"issue {issue.number} is {issue.status}; it cannot be {verb}")


def _require_content(session: Session, issue: Issue) -> None:
    if not target_segment_ids(session, issue_id=issue.id):
        raise Invalid("segment_ids", "choose at least one target segment first")
    if session.scalar(select(Excerpt.id).where(Excerpt.issue_id == issue.id).limit(1)) is None:
        raise Invalid("sections", "an issue needs at least one excerpt")


def _balance_override(session: Session, issue: Issue, reason: str | None) -> str | None:
    """The reason, required when a regular issue lacks wins or open work."""
    reason = (reason or "").strip() or None
    if issue.kind == IssueKind.flash:
        return reason
    missing = overview.balance(session, issue=issue).missing
    if missing and (reason is None or len(reason) < MIN_REASON_LENGTH):
        what = " and ".join("wins" if m == "win" else "open work" for m in missing)
        raise Invalid(
            "override_reason",
            f"this issue has no {what}; say in a sentence why it should go out anyway",
        )
    return reason if missing else None


def _event_payload(issue: Issue) -> dict:
    return {
        "issue_id": issue.id,
        "number": issue.number,
        "kind": issue.kind,
        "title": issue.title,
        "status": issue.status,
        "planned_date": issue.planned_date.isoformat(),
    }


def _transitioned(
    session: Session, issue: Issue, actor: Principal, action: str, details: dict
) -> Issue:
    issue.updated_at = utcnow()
    session.add(issue)
    session.flush()
    record(
        session,
        actor=actor,
        action=action,
        object_type="issue",
        object_id=issue.id,
        details={"number": issue.number, "status": issue.status, **details},
    )
    return issue
