"""The unsubscribe event: written with the status change, in the same transaction, so the
count of unsubscribes per issue and segment can never disagree with what happened."""

from sqlalchemy import select
from sqlmodel import Session

from app.analytics.tallies import events_changed
from app.delivery.models import Delivery
from app.tracking import service as tracking
from app.tracking.models import EngagementEvent, EventKind, PrivacyMode


def record_unsubscribe(session: Session, *, issue_id: int, subscriber_id: int) -> bool:
    """Count an unsubscribe through this issue's link; False when nothing is recorded
    (privacy mode off, or the person was not a recipient of the issue)."""
    mode = tracking.privacy_mode(session)
    if mode == PrivacyMode.off:
        return False
    variant = session.scalar(
        select(Delivery.variant).where(
            Delivery.issue_id == issue_id, Delivery.subscriber_id == subscriber_id
        )
    )
    if variant is None:
        return False
    event = EngagementEvent(issue_id=issue_id, kind=EventKind.unsubscribe, variant=variant)
    if mode == PrivacyMode.aggregate:
        salt = tracking.salts_for(session, issue_ids=[issue_id])[issue_id]
        event.reader = tracking.pseudonym(salt, subscriber_id)
    else:
        event.subscriber_id = subscriber_id
    # A POST a person (or their mail client's one-click button) sent: never a machine's.
    session.add(event)
    session.flush()
    events_changed(session, [issue_id])
    return True
