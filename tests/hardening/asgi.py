"""A bare ASGI caller: a request straight into the app, without a client or a socket.

TestClient costs a thread hop and an httpx round per request; the token and hostile-input
suites send tens of thousands, so they call the app's ASGI interface directly.
"""

from dataclasses import dataclass, field
from urllib.parse import quote


@dataclass
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


async def call(
    app,
    method: str,
    path: str,
    *,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> Answer:
    """One request; `path` is the decoded path (percent-encoded for raw_path)."""
    request_headers = [(b"host", b"testserver")]
    request_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    if body:
        request_headers.append((b"content-length", str(len(body)).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": quote(path, safe="/").encode(),
        "query_string": b"",
        "root_path": "",
        "headers": request_headers,
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    answer = Answer(0)
    body_sent = False

    async def receive() -> dict:
        nonlocal body_sent
        if body_sent:
            return {"type": "http.disconnect"}
        body_sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            answer.status = message["status"]
            answer.headers = {k.decode().lower(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            answer.body += message.get("body", b"")

    await app(scope, receive, send)
    return answer
