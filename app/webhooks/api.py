"""JSON API for outbound webhooks (admin scope): /api/v1/webhooks."""

from typing import Annotated

from fastapi import APIRouter, Query, status

from app.accounts.principal import Principal
from app.api_types import PathId
from app.deps import SessionDep, require_scope
from app.webhooks import service as webhooks
from app.webhooks.models import (
    DeliveryStatus,
    WebhookDeliveryPublic,
    WebhookEndpointCreate,
    WebhookEndpointPublic,
    WebhookEndpointUpdate,
    WebhookEndpointWithSecret,
)

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])
Admin = Annotated[Principal, require_scope("admin")]


@router.get("", response_model=list[WebhookEndpointPublic])
def list_webhooks(session: SessionDep, _: Admin):
    return webhooks.list_endpoints(session)


@router.post("", response_model=WebhookEndpointWithSecret, status_code=status.HTTP_201_CREATED)
def create_webhook(data: WebhookEndpointCreate, session: SessionDep, actor: Admin):
    """Register a URL for events (`["*"]`: all of them); the `secret` is shown only here.

    Each delivery is a POST of `{"id", "event", "created_at", "data"}` with the header
    `X-Drumbeat-Signature: t=<unix seconds>,v1=<hex>`, where `<hex>` is HMAC-SHA256 with the
    secret over `"<t>.<raw body>"`. Verify it in constant time, reject old `t` (replays),
    answer 2xx within 5 seconds and deduplicate on `id`: failed deliveries are retried with
    backoff (10 s, 1 min, 5 min, 30 min, 2 h) and may arrive more than once.
    """
    return webhooks.create(session, data=data, actor=actor)


@router.get("/{webhook_id}", response_model=WebhookEndpointPublic)
def get_webhook(webhook_id: PathId, session: SessionDep, _: Admin):
    return webhooks.get(session, endpoint_id=webhook_id)


@router.patch("/{webhook_id}", response_model=WebhookEndpointPublic)
def update_webhook(
    webhook_id: PathId, data: WebhookEndpointUpdate, session: SessionDep, actor: Admin
):
    """Change it; while `is_active` is false its deliveries wait instead of being sent."""
    endpoint = webhooks.get(session, endpoint_id=webhook_id)
    return webhooks.update(session, endpoint=endpoint, data=data, actor=actor)


@router.delete("/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_webhook(webhook_id: PathId, session: SessionDep, actor: Admin) -> None:
    webhooks.delete(session, endpoint=webhooks.get(session, endpoint_id=webhook_id), actor=actor)


@router.post("/{webhook_id}/rotate-secret", response_model=WebhookEndpointWithSecret)
def rotate_webhook_secret(webhook_id: PathId, session: SessionDep, actor: Admin):
    """A new signing secret, effective at once (also for deliveries still to be retried)."""
    endpoint = webhooks.get(session, endpoint_id=webhook_id)
    secret = webhooks.rotate_secret(session, endpoint=endpoint, actor=actor)
    return WebhookEndpointWithSecret(
        **WebhookEndpointPublic.model_validate(endpoint).model_dump(), secret=secret
    )


@router.get("/{webhook_id}/deliveries", response_model=list[WebhookDeliveryPublic])
def list_webhook_deliveries(
    webhook_id: PathId,
    session: SessionDep,
    _: Admin,
    delivery_status: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
):
    """Recent deliveries, newest first: status, attempts, last status code and error."""
    endpoint = webhooks.get(session, endpoint_id=webhook_id)
    return webhooks.list_deliveries(session, endpoint=endpoint, status=delivery_status, limit=limit)


@router.post(
    "/{webhook_id}/ping",
    response_model=WebhookDeliveryPublic,
    status_code=status.HTTP_202_ACCEPTED,
)
def ping_webhook(webhook_id: PathId, session: SessionDep, actor: Admin):
    """Queue a `ping` event to this endpoint only; follow it in its deliveries."""
    endpoint = webhooks.get(session, endpoint_id=webhook_id)
    return webhooks.ping(session, endpoint=endpoint, actor=actor)
