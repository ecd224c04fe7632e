"""Webhooks: `emit` events into the outbox, and manage the endpoints that receive them."""

import logging
import secrets
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import event as sa_event
from sqlalchemy import select
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session

from app.accounts.principal import Principal
from app.audit.service import record
from app.errors import Conflict, NotFound
from app.webhooks import tasks
from app.webhooks.models import (
    PING_EVENT,
    DeliveryStatus,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEndpointCreate,
    WebhookEndpointUpdate,
    WebhookEvent,
)

log = logging.getLogger("drumbeat.webhooks")

EVENT_NAMES = frozenset(e.value for e in WebhookEvent)
SECRET_PREFIX = "whsec_"  # noqa: S105  (a label in front of generated secrets)
# Set on a session that queued deliveries; its commit wakes the runner (see below).
NUDGE_AFTER_COMMIT = "webhooks.nudge_after_commit"


def emit(session: Session, *, event: str, payload: dict[str, Any]) -> None:
    """Queue `event` for every active endpoint subscribed to it, in the caller's transaction.

    Nothing is sent unless and until that transaction commits. `payload` becomes the
    envelope's `data`; datetimes, UUIDs and models become JSON as in API responses.
    """
    if event not in EVENT_NAMES:
        raise ValueError(f"unknown webhook event {event!r}; one of {sorted(EVENT_NAMES)}")
    data = to_jsonable_python(payload)
    endpoints = session.scalars(
        select(WebhookEndpoint)
        .where(WebhookEndpoint.is_active.is_(True))
        .order_by(WebhookEndpoint.id)
    )
    for endpoint in endpoints:
        if endpoint.wants(event):
            _queue(session, endpoint=endpoint, event=event, payload=data)
    session.flush()


def _queue(
    session: Session, *, endpoint: WebhookEndpoint, event: str, payload: dict[str, Any]
) -> WebhookDelivery:
    delivery = WebhookDelivery(endpoint_id=endpoint.id, event=event, payload=payload)
    session.add(delivery)
    session.info[NUDGE_AFTER_COMMIT] = True
    return delivery


@sa_event.listens_for(OrmSession, "after_commit")
def _nudge_runner_after_commit(session: OrmSession) -> None:
    # A savepoint's commit fires this too, while the real transaction is still open.
    if session.in_nested_transaction():
        return
    if session.info.pop(NUDGE_AFTER_COMMIT, False):
        try:
            tasks.nudge(session.get_bind().engine)
        except Exception:  # the commit stands; the deliveries just wait for the next poll
            log.exception("could not wake the webhook runner after a commit")


@sa_event.listens_for(OrmSession, "after_rollback")
def _forget_nudge_after_rollback(session: OrmSession) -> None:
    if not session.in_nested_transaction():
        session.info.pop(NUDGE_AFTER_COMMIT, None)


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def get(session: Session, *, endpoint_id: int) -> WebhookEndpoint:
    """Load an endpoint or raise NotFound."""
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise NotFound(f"webhook {endpoint_id} does not exist")
    return endpoint


def list_endpoints(session: Session) -> list[WebhookEndpoint]:
    """Every endpoint, oldest first."""
    return list(session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))


def create(session: Session, *, data: WebhookEndpointCreate, actor: Principal) -> WebhookEndpoint:
    """A new endpoint with a generated signing secret (the caller shows it once)."""
    endpoint = WebhookEndpoint(
        url=data.url,
        description=data.description.strip(),
        secret=new_secret(),
        events=data.events,
        is_active=data.is_active,
    )
    session.add(endpoint)
    session.flush()
    record(
        session,
        actor=actor,
        action="webhook.created",
        object_type="webhook",
        object_id=endpoint.id,
        details={"url": endpoint.url, "events": endpoint.events},
    )
    return endpoint


def update(
    session: Session, *, endpoint: WebhookEndpoint, data: WebhookEndpointUpdate, actor: Principal
) -> WebhookEndpoint:
    """Change URL, description, events or whether it is active (inactive: deliveries wait)."""
    changes = data.model_dump(exclude_unset=True)
    for field in ("url", "events", "is_active"):
        if changes.get(field) is not None:
            setattr(endpoint, field, changes[field])
    if "description" in changes:
        endpoint.description = (changes["description"] or "").strip()
    session.add(endpoint)
    session.flush()
    record(
        session,
        actor=actor,
        action="webhook.updated",
        object_type="webhook",
        object_id=endpoint.id,
        details={"fields": sorted(changes), "url": endpoint.url},
    )
    return endpoint


def delete(session: Session, *, endpoint: WebhookEndpoint, actor: Principal) -> None:
    """Delete an endpoint with its deliveries, sent or not."""
    record(
        session,
        actor=actor,
        action="webhook.deleted",
        object_type="webhook",
        object_id=endpoint.id,
        details={"url": endpoint.url},
    )
    session.delete(endpoint)
    session.flush()


def rotate_secret(session: Session, *, endpoint: WebhookEndpoint, actor: Principal) -> str:
    """Replace the signing secret; deliveries not yet sent are signed with the new one."""
    endpoint.secret = new_secret()
    session.add(endpoint)
    session.flush()
    record(
        session,
        actor=actor,
        action="webhook.secret_rotated",
        object_type="webhook",
        object_id=endpoint.id,
    )
    return endpoint.secret


def ping(session: Session, *, endpoint: WebhookEndpoint, actor: Principal) -> WebhookDelivery:
    """Queue a `ping` event to this endpoint only, to test the receiver."""
    if not endpoint.is_active:
        raise Conflict(f"webhook {endpoint.id} is inactive; activate it to ping it")
    delivery = _queue(
        session,
        endpoint=endpoint,
        event=PING_EVENT,
        payload={"webhook_id": endpoint.id, "message": "Drumbeat webhook test"},
    )
    session.flush()
    record(
        session,
        actor=actor,
        action="webhook.pinged",
        object_type="webhook",
        object_id=endpoint.id,
        details={"delivery_id": delivery.id},
    )
    return delivery


def list_deliveries(
    session: Session,
    *,
    endpoint: WebhookEndpoint,
    status: DeliveryStatus | None = None,
    limit: int = 50,
) -> list[WebhookDelivery]:
    """The endpoint's deliveries, newest first."""
    query = (
        select(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint.id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    return list(session.scalars(query))
