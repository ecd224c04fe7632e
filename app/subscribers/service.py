"""Subscribers: create, upsert by email, change, list and delete."""

import base64
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, or_, select
from sqlmodel import Session

from app.accounts.principal import Principal
from app.analytics.tallies import events_changed
from app.audit.service import record
from app.db import utcnow
from app.errors import Conflict, Invalid, NotFound
from app.subscribers.models import (
    Subscriber,
    SubscriberCreate,
    SubscriberFields,
    SubscriberStatus,
    SubscriberUpdate,
    clean_attributes,
)
from app.subscribers.normalize import normalize_email
from app.tracking.models import EngagementEvent

MAX_ID = 2**31 - 1


@dataclass(frozen=True)
class SubscriberFilter:
    """What a list or export selects; every part is optional."""

    search: str | None = None
    status: SubscriberStatus | None = None
    attributes: tuple[tuple[str, str], ...] = ()
    segment_clause: ColumnElement[bool] | None = None

    def where(self) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = []
        if self.search:
            needle = self.search.lower()
            clauses.append(
                or_(
                    Subscriber.email.contains(needle, autoescape=True),
                    func.lower(Subscriber.name).contains(needle, autoescape=True),
                )
            )
        if self.status:
            clauses.append(Subscriber.status == self.status)
        for key, value in self.attributes:
            clauses.append(func.lower(Subscriber.attributes[key].as_string()) == value.lower())
        if self.segment_clause is not None:
            clauses.append(self.segment_clause)
        return clauses


def get(session: Session, *, subscriber_id: int) -> Subscriber:
    """Load a subscriber or raise NotFound."""
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise NotFound(f"subscriber {subscriber_id} does not exist")
    return subscriber


def find_by_email(session: Session, *, email: str) -> Subscriber | None:
    """The subscriber with this address, in any spelling of its case."""
    return session.scalar(select(Subscriber).where(Subscriber.email == _email_or_422(email)))


def create(session: Session, *, data: SubscriberCreate, actor: Principal) -> Subscriber:
    """A new subscriber; 409 when the address is known already."""
    email = _email_or_422(data.email)
    if session.scalar(select(Subscriber.id).where(Subscriber.email == email)) is not None:
        raise Conflict(
            f"subscriber {email} exists already",
            errors=[{"field": "email", "reason": "already subscribed"}],
        )
    subscriber = Subscriber(
        email=email, name=data.name.strip(), attributes=data.attributes, status=data.status
    )
    session.add(subscriber)
    session.flush()
    record(
        session,
        actor=actor,
        action="subscriber.created",
        object_type="subscriber",
        object_id=subscriber.id,
    )
    return subscriber


def upsert(
    session: Session, *, email: str, data: SubscriberFields, actor: Principal
) -> tuple[Subscriber, bool]:
    """Create or replace name and attributes by email; returns (subscriber, created).

    The status changes only when sent, and never back to active: like an import, an upsert
    is a sync from another system, and must not undo someone's unsubscribe.
    """
    existing = find_by_email(session, email=email)
    if existing is None:
        created = SubscriberCreate(email=email, **data.model_dump())
        return create(session, data=created, actor=actor), True
    if "status" in data.model_fields_set:
        _ensure_not_reactivated(existing, data.status)
        _set_status(existing, data.status)
    existing.name = data.name.strip()
    existing.attributes = data.attributes
    existing.updated_at = utcnow()
    session.add(existing)
    session.flush()
    record(
        session,
        actor=actor,
        action="subscriber.updated",
        object_type="subscriber",
        object_id=existing.id,
        details={"via": "upsert"},
    )
    return existing, False


def update(
    session: Session, *, subscriber: Subscriber, data: SubscriberUpdate, actor: Principal
) -> Subscriber:
    """Change some fields; attributes are merged, a null value removes the key."""
    changes = data.model_dump(exclude_unset=True)
    if changes.get("email") is not None:
        email = _email_or_422(changes["email"])
        if email != subscriber.email:
            clash = session.scalar(select(Subscriber.id).where(Subscriber.email == email))
            if clash is not None:
                raise Conflict(
                    f"subscriber {email} exists already",
                    errors=[{"field": "email", "reason": "already subscribed"}],
                )
            subscriber.email = email
    if changes.get("name") is not None:
        subscriber.name = changes["name"].strip()
    if changes.get("attributes") is not None:
        subscriber.attributes = _merged_attributes(subscriber.attributes, changes["attributes"])
    if changes.get("status") is not None:
        _set_status(subscriber, changes["status"])
    subscriber.updated_at = utcnow()
    session.add(subscriber)
    session.flush()
    record(
        session,
        actor=actor,
        action="subscriber.updated",
        object_type="subscriber",
        object_id=subscriber.id,
        details={"fields": sorted(changes)},
    )
    return subscriber


def delete(session: Session, *, subscriber: Subscriber, actor: Principal) -> None:
    """Remove a subscriber and their static segment memberships."""
    record(
        session,
        actor=actor,
        action="subscriber.deleted",
        object_type="subscriber",
        object_id=subscriber.id,
    )
    # In individual mode their events lose the subscriber id (ON DELETE SET NULL) and no
    # longer count as a reader: the summaries of those issues go out of date.
    tracked = select(EngagementEvent.issue_id).where(EngagementEvent.subscriber_id == subscriber.id)
    events_changed(session, session.scalars(tracked.distinct()))
    session.delete(subscriber)
    session.flush()


def list_page(
    session: Session, *, where: SubscriberFilter, cursor: str | None, limit: int
) -> tuple[list[Subscriber], str | None]:
    """One page in id order; the cursor is opaque to clients and stable under inserts."""
    query = select(Subscriber).where(*where.where()).order_by(Subscriber.id).limit(limit + 1)
    if cursor:
        query = query.where(Subscriber.id > _decode_cursor(cursor))
    rows = list(session.scalars(query))
    has_more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = _encode_cursor(rows[-1].id) if has_more and rows else None
    return rows, next_cursor


def _merged_attributes(current: dict[str, str], changes: dict[str, object]) -> dict[str, str]:
    merged = dict(current)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    try:
        return clean_attributes(merged)
    except ValueError as exc:
        raise Invalid("attributes", str(exc)) from exc


def _ensure_not_reactivated(subscriber: Subscriber, status: str) -> None:
    if status == SubscriberStatus.active and subscriber.status != SubscriberStatus.active:
        raise Conflict(
            f"subscriber {subscriber.email} is {subscriber.status}; an upsert cannot reactivate it",
            errors=[{"field": "status", "reason": f"subscriber is {subscriber.status}"}],
        )


def _set_status(subscriber: Subscriber, status: str) -> None:
    if subscriber.status != status:
        subscriber.status = status
        subscriber.status_changed_at = utcnow()


def _email_or_422(raw: str) -> str:
    try:
        return normalize_email(raw)
    except ValueError as exc:
        raise Invalid("email", str(exc)) from exc


def _encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        kind, _, value = base64.urlsafe_b64decode(padded).decode().partition(":")
        # Ids are 32-bit on PostgreSQL; a larger number would fail in the database, not here.
        if kind != "id" or not value.isascii() or not value.isdigit() or int(value) > MAX_ID:
            raise ValueError
        return int(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid("cursor", "not a cursor this API returned") from exc
