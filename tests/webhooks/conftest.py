"""Webhook fixtures: the app without its runner, endpoints, committed events.

Most tests drive delivery themselves with `deliver_due` (and a chosen `now`), so the shared
app here runs without the background runner; tests of the runner start their own app.
"""

import socket
from collections.abc import Iterator

import httpx
import pytest

from app.accounts.principal import CLI_PRINCIPAL
from app.db import unit_of_work
from app.main import create_app
from app.webhooks import service as webhooks
from app.webhooks.models import WebhookEndpoint, WebhookEndpointCreate


@pytest.fixture
def refused_url() -> str:
    """A URL on a port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as client:
        yield client


@pytest.fixture(scope="session")
def app(settings):
    """The app of the shared fixtures, without the background runner."""
    application = create_app(settings.model_copy(update={"webhooks_enabled": False}))
    yield application
    application.state.engine.dispose()


def add_endpoint(engine, url: str, *, events=("*",), is_active: bool = True) -> WebhookEndpoint:
    with unit_of_work(engine) as session:
        return webhooks.create(
            session,
            data=WebhookEndpointCreate(url=url, events=list(events), is_active=is_active),
            actor=CLI_PRINCIPAL,
        )


def emit_committed(engine, event: str = "news_item.created", payload: dict | None = None) -> None:
    with unit_of_work(engine) as session:
        webhooks.emit(session, event=event, payload=payload or {"news_item_id": 1})
