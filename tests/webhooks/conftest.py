"""Webhook fixtures: a real HTTP receiver on 127.0.0.1, and the app without its runner.

Most tests drive delivery themselves with `deliver_due` (and a chosen `now`), so the shared
app here runs without the background runner; tests of the runner start their own app.
"""

import asyncio
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.accounts.principal import CLI_PRINCIPAL
from app.db import unit_of_work
from app.main import create_app
from app.webhooks import service as webhooks
from app.webhooks.models import WebhookEndpoint, WebhookEndpointCreate
from tests.browser import serve_in_thread


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """Records every request; answers with scripted statuses (then 200).

    Paths: /hook answers at once, /slowish after 10 ms, /blocked only once `gate` is set.
    """

    def __init__(self) -> None:
        self.base_url = ""
        self.requests: list[Received] = []
        self.statuses: deque[int] = deque()
        self.gate = threading.Event()

    def reset(self) -> None:
        self.requests.clear()
        self.statuses.clear()
        self.gate = threading.Event()

    def url(self, path: str = "/hook") -> str:
        return self.base_url + path

    def answer_with(self, *statuses: int) -> None:
        self.statuses.extend(statuses)

    def wait_for(self, count: int, timeout: float = 10) -> list[Received]:
        """Wait (bounded) until `count` requests have arrived."""
        wait_until(lambda: len(self.requests) >= count, timeout=timeout)
        return self.requests

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        self.requests.append(Received(request.url.path, dict(request.headers), body))
        if request.url.path == "/slowish":
            await asyncio.sleep(0.01)
        if request.url.path == "/blocked":
            gate = self.gate
            await anyio.to_thread.run_sync(gate.wait, 30)
        status = self.statuses.popleft() if self.statuses else 200
        return Response(b"scripted answer", status_code=status, media_type="text/plain")


def wait_until(condition: Callable[[], object], *, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {condition}")
        time.sleep(0.02)


@pytest.fixture(scope="session")
def receiver_server() -> Iterator[Receiver]:
    receiver = Receiver()
    paths = ["/hook", "/slowish", "/blocked"]
    app = Starlette(routes=[Route(p, receiver.handle, methods=["POST"]) for p in paths])
    server = serve_in_thread(app)
    receiver.base_url = next(server)
    yield receiver
    receiver.gate.set()
    next(server, None)


@pytest.fixture
def receiver(receiver_server) -> Iterator[Receiver]:
    receiver_server.reset()
    yield receiver_server
    receiver_server.gate.set()  # let a blocked request finish


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
