"""Security headers for the studio: a Content-Security-Policy without inline code or eval.

Studio pages load scripts and styles only from /static and talk only to this origin, so an
injected `<script>`, `style=` or `onclick=` does nothing even if escaping ever failed.
"""

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STUDIO_CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "frame-src 'self'",  # the sandboxed preview of an issue
        "frame-ancestors 'none'",
        "form-action 'self'",
        "base-uri 'none'",
        "object-src 'none'",
    )
)
STUDIO_HEADERS = {
    "content-security-policy": STUDIO_CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}


class StudioSecurityHeaders:
    """Adds the studio's headers to every answer under /studio, error pages included."""

    def __init__(self, app: ASGIApp, *, prefix: str = "/studio"):
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in STUDIO_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, with_headers)
