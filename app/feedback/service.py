"""The feedback inbox: checking and storing submissions, listing and triaging them."""

import re
from collections.abc import Mapping

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlmodel import Session

from app.accounts.principal import Principal
from app.audit.service import record
from app.db import utcnow
from app.errors import DomainError, NotFound
from app.feedback.models import (
    NEEDS_CRITERIA,
    FeedbackForm,
    FeedbackKind,
    FeedbackStatus,
    FeedbackSubmission,
    FeedbackTriage,
)
from app.subscribers.normalize import normalize_email

FORM_FIELDS = ("kind", "problem", "affected", "benefit", "message", "name", "email")
# Enough to say something a person can act on; a single word is not a problem statement.
MIN_LENGTHS = {"problem": 10, "affected": 3, "benefit": 10}
CRITERIA_REASONS = {
    "problem": "describe the problem in a sentence (at least 10 characters)",
    "affected": "say who is affected, e.g. 'the service desk' or 'everyone in Finance'",
    "benefit": "say what would be better once it is solved (at least 10 characters)",
}
# Control characters other than tab and line breaks (PostgreSQL cannot store NUL).
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


class InvalidFeedback(DomainError):
    """The form has mistakes; `errors` names each field with its reason."""

    status = 422
    title = "Please check the form"

    def __init__(self, errors: dict[str, str]):
        super().__init__(
            "; ".join(f"{field}: {reason}" for field, reason in errors.items()),
            errors=[{"field": field, "reason": reason} for field, reason in errors.items()],
        )
        self.by_field = errors


def read_form(raw: Mapping[str, object]) -> FeedbackForm:
    """The posted form as a FeedbackForm, or InvalidFeedback naming every field at fault."""
    values = {name: raw.get(name) for name in FORM_FIELDS}
    values = {name: value if isinstance(value, str) else "" for name, value in values.items()}
    errors = {
        name: "contains control characters; please remove them"
        for name, value in values.items()
        if CONTROL.search(value)
    }
    form = None
    try:
        form = FeedbackForm.model_validate({k: v for k, v in values.items() if v or k != "kind"})
    except ValidationError as exc:
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "form"
            errors.setdefault(field, _reason(error))
    if form is not None:
        errors = {**_criteria_errors(form), **errors}
    if values["email"].strip() and "email" not in errors:
        try:
            normalize_email(values["email"])
        except ValueError:
            errors["email"] = "not an email address; leave it empty to stay anonymous"
    if errors:
        raise InvalidFeedback(errors)
    if form.email:
        form.email = normalize_email(form.email)
    return form


def _reason(error: dict) -> str:
    if error["type"] == "missing" and error["loc"] == ("kind",):
        return "choose whether this is an idea, a complaint, a question or praise"
    if error["type"] == "enum":
        return f"choose one of: {', '.join(k.value for k in FeedbackKind)}"
    if error["type"] == "string_too_long":
        return f"at most {error['ctx']['max_length']} characters"
    return error.get("msg", "invalid")


def _criteria_errors(form: FeedbackForm) -> dict[str, str]:
    errors = {}
    if form.kind in NEEDS_CRITERIA:
        for field, minimum in MIN_LENGTHS.items():
            if len(getattr(form, field)) < minimum:
                errors[field] = CRITERIA_REASONS[field]
    elif not form.message:
        errors["message"] = "write your question or what you liked"
    return errors


def submit(session: Session, *, form: FeedbackForm) -> FeedbackSubmission:
    """Store a checked submission in the inbox as new."""
    submission = FeedbackSubmission(
        kind=form.kind,
        problem=form.problem,
        affected=form.affected,
        benefit=form.benefit,
        message=form.message,
        name=form.name or None,
        email=form.email or None,
    )
    session.add(submission)
    session.flush()
    return submission


def list_page(
    session: Session,
    *,
    status: FeedbackStatus | None = None,
    kind: FeedbackKind | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> tuple[list[FeedbackSubmission], int | None]:
    """Newest first, and the before_id of the next page (None at the end)."""
    query = select(FeedbackSubmission).order_by(FeedbackSubmission.id.desc()).limit(limit + 1)
    if status is not None:
        query = query.where(FeedbackSubmission.status == status)
    if kind is not None:
        query = query.where(FeedbackSubmission.kind == kind)
    if before_id is not None:
        query = query.where(FeedbackSubmission.id < before_id)
    rows = list(session.scalars(query))
    has_more = len(rows) > limit
    rows = rows[:limit]
    return rows, rows[-1].id if has_more else None


def count_by_status(session: Session) -> dict[str, int]:
    """How many submissions are in each status (every status present, zero included)."""
    query = select(FeedbackSubmission.status, func.count()).group_by(FeedbackSubmission.status)
    return {**dict.fromkeys(FeedbackStatus, 0), **dict(session.execute(query).all())}


def get(session: Session, *, submission_id: int) -> FeedbackSubmission:
    submission = session.get(FeedbackSubmission, submission_id)
    if submission is None:
        raise NotFound(f"feedback {submission_id} does not exist")
    return submission


def triage(
    session: Session, *, submission: FeedbackSubmission, data: FeedbackTriage, actor: Principal
) -> FeedbackSubmission:
    """Set the status (with a note for the sender's case), audited."""
    previous = submission.status
    submission.status = data.status
    submission.status_note = data.note.strip()
    submission.status_changed_by = actor.label
    submission.status_changed_at = utcnow()
    session.add(submission)
    record(
        session,
        actor=actor,
        action="feedback.triaged",
        object_type="feedback",
        object_id=submission.id,
        details={"from": previous, "to": data.status.value, "note": submission.status_note},
    )
    session.flush()
    return submission
