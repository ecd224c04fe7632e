"""Outbound webhooks: endpoints that subscribe to events, and the outbox of deliveries."""

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlsplit

import httpx
from pydantic import field_validator
from sqlalchemy import Column, Index
from sqlmodel import Field, SQLModel

from app.api_types import HTTP_URL, BodyBool, documented_pattern
from app.db import JsonType, utcnow


class WebhookEvent(StrEnum):
    news_item_created = "news_item.created"
    issue_submitted = "issue.submitted"
    issue_approved = "issue.approved"
    issue_sent = "issue.sent"


# Sent only by POST /api/v1/webhooks/{id}/ping, to that one endpoint; nobody subscribes to it.
PING_EVENT = "ping"
ALL_EVENTS = "*"
MAX_URL_LENGTH = 2000


class DeliveryStatus(StrEnum):
    pending = "pending"
    delivered = "delivered"
    failed = "failed"


class WebhookEndpoint(SQLModel, table=True):
    __tablename__ = "webhook_endpoint"

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(max_length=MAX_URL_LENGTH)
    description: str = Field(default="", max_length=1000)
    # Kept in plain text: we sign with it, so a hash would not do. Never in API lists.
    secret: str = Field(max_length=100, repr=False)
    # Event names, or ["*"] for every event (including ones added later).
    events: list[str] = Field(
        default_factory=lambda: [ALL_EVENTS], sa_column=Column(JsonType, nullable=False)
    )
    is_active: bool = True
    created_at: datetime = Field(default_factory=utcnow)

    def wants(self, event: str) -> bool:
        return ALL_EVENTS in self.events or event in self.events


class WebhookDelivery(SQLModel, table=True):
    """One event for one endpoint: a row of the outbox, and later its delivery record."""

    __tablename__ = "webhook_delivery"
    # The dispatcher's query: pending rows whose time has come.
    __table_args__ = (
        Index("ix_webhook_delivery_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    endpoint_id: int = Field(foreign_key="webhook_endpoint.id", index=True, ondelete="CASCADE")
    event: str = Field(max_length=60)
    payload: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JsonType, nullable=False)
    )
    status: str = Field(default=DeliveryStatus.pending, max_length=10)
    attempts: int = 0
    # None once delivered or failed: nothing more is planned.
    next_attempt_at: datetime | None = Field(default_factory=utcnow)
    last_attempt_at: datetime | None = None
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=1000)
    delivered_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


def checked_url(value: str) -> str:
    """An absolute http(s) URL without credentials; ValueError with the reason otherwise."""
    url = value.strip()
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise ValueError("the URL contains spaces or control characters")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("only http:// and https:// URLs can receive webhooks")
    if "@" in parts.netloc:
        # The signature authenticates us; credentials in a URL end up in logs and lists.
        raise ValueError("the URL must not contain credentials (user:password@)")
    try:
        parts.port  # noqa: B018  (raises on a port that is not a number in range)
        host = httpx.URL(url).host
    except (ValueError, httpx.InvalidURL) as exc:
        raise ValueError(f"not a valid URL: {exc}") from exc
    if not host:
        raise ValueError("the URL needs a host")
    if not re.match(HTTP_URL, url):
        raise ValueError("not a valid URL: the host is a name or address of letters and digits")
    return url


def checked_events(value: list[str]) -> list[str]:
    """Known event names, sorted and unique; ["*"] stands for all of them."""
    known = {e.value for e in WebhookEvent}
    unknown = [e for e in value if e != ALL_EVENTS and e not in known]
    if unknown:
        raise ValueError(f"unknown event {unknown[0]!r}; one of {sorted(known)} or '*'")
    if not value:
        raise ValueError("subscribe to at least one event, or '*' for all")
    return [ALL_EVENTS] if ALL_EVENTS in value else sorted(set(value))


# For the document: what checked_url and checked_events take.
WebhookUrl = Annotated[str, Field(max_length=MAX_URL_LENGTH), documented_pattern(HTTP_URL)]
EVENTS_SCHEMA = {
    "minItems": 1,
    "items": {"enum": [ALL_EVENTS, *(e.value for e in WebhookEvent)]},
    "description": "Event names, or '*' for all of them",
}


class WebhookEndpointCreate(SQLModel):
    url: WebhookUrl
    description: str = Field(default="", max_length=1000)
    events: list[str] = Field(
        default_factory=lambda: [ALL_EVENTS],
        max_length=20,
        schema_extra={"json_schema_extra": EVENTS_SCHEMA},
    )
    is_active: BodyBool = True

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return checked_url(value)

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str]) -> list[str]:
        return checked_events(value)


class WebhookEndpointUpdate(SQLModel):
    url: WebhookUrl | None = None
    description: str | None = Field(default=None, max_length=1000)
    events: list[str] | None = Field(
        default=None, max_length=20, schema_extra={"json_schema_extra": EVENTS_SCHEMA}
    )
    is_active: BodyBool | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else checked_url(value)

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else checked_events(value)


class WebhookEndpointPublic(SQLModel):
    id: int
    url: str
    description: str
    events: list[str]
    is_active: bool
    created_at: datetime


class WebhookEndpointWithSecret(WebhookEndpointPublic):
    secret: str = Field(
        description="Signs every delivery (X-Drumbeat-Signature). Shown only here; "
        "rotate it to see a new one."
    )


class WebhookDeliveryPublic(SQLModel):
    id: int
    endpoint_id: int
    event: str
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
