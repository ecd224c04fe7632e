"""Caps on request body size, enforced while the body streams in (413 beyond)."""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import problem


class BodySizeLimit:
    """Answers 413 when a body declares or streams more than its path's limit.

    A chunked body is only known to be too large part-way through, after the app has begun
    parsing it; from then on the app sees an empty end of body and its answer is replaced.
    """

    def __init__(self, app: ASGIApp, *, default_limit: int, limits_by_path: dict[str, int]):
        self.app = app
        self.default_limit = default_limit
        self.limits_by_path = limits_by_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits_by_path.get(scope["path"], self.default_limit)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(scope, receive, send, limit)
            return
        received = 0
        exceeded = False
        answered = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                return {"type": "http.request", "body": b"", "more_body": False}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    return {"type": "http.request", "body": b"", "more_body": False}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal answered
            if exceeded:
                if not answered:
                    answered = True
                    await _too_large(scope, receive, send, limit)
                return
            answered = True
            await send(message)

        await self.app(scope, limited_receive, guarded_send)
        if exceeded and not answered:
            await _too_large(scope, receive, send, limit)


async def _too_large(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    response = problem(413, "Request body too large", f"the limit is {limit} bytes")
    await response(scope, receive, send)
