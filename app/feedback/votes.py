""" "Was this useful?" votes from the email, and the optional details a reader adds after."""

import re
from collections.abc import Mapping

from sqlmodel import Session

from app.db import utcnow
from app.feedback.service import CONTROL, InvalidFeedback
from app.tracking.models import ExcerptFeedback

MAX_COMMENT = 2000
RATINGS = ("relevance", "clarity")


def record_vote(
    session: Session, *, issue_id: int, excerpt_id: int, useful: bool, comment: str = ""
) -> ExcerptFeedback:
    """One vote, without a name; flushed so the follow-up form can point at its row."""
    vote = ExcerptFeedback(
        issue_id=issue_id,
        excerpt_id=excerpt_id,
        useful=useful,
        comment=CONTROL.sub("", comment)[:MAX_COMMENT],
    )
    session.add(vote)
    session.flush()
    return vote


def read_details(raw: Mapping[str, object]) -> dict[str, object]:
    """comment and the two ratings (1-5, or None when left out); InvalidFeedback per field."""
    values = {name: raw.get(name) for name in ("comment", *RATINGS)}
    values = {k: v.strip() if isinstance(v, str) else "" for k, v in values.items()}
    errors, details = {}, {"comment": values["comment"]}
    if len(values["comment"]) > MAX_COMMENT:
        errors["comment"] = f"at most {MAX_COMMENT} characters"
    elif CONTROL.search(values["comment"]):
        errors["comment"] = "contains control characters; please remove them"
    for name in RATINGS:
        if not values[name]:
            details[name] = None
        elif re.fullmatch(r"[1-5]", values[name]):
            details[name] = int(values[name])
        else:
            errors[name] = "choose 1 (poor) to 5 (very good), or leave it out"
    if errors:
        raise InvalidFeedback(errors)
    return details


def add_details(session: Session, *, vote: ExcerptFeedback, details: dict[str, object]) -> None:
    """Replace the vote's comment and ratings with what the reader sent last."""
    vote.comment = details["comment"]
    vote.relevance = details["relevance"]
    vote.clarity = details["clarity"]
    vote.updated_at = utcnow()
    session.add(vote)
    session.flush()
