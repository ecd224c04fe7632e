"""A real HTTP receiver on 127.0.0.1 for outbound calls (webhooks): records requests and
answers with scripted statuses. Registered as a plugin in tests/conftest.py."""

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import anyio
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

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
