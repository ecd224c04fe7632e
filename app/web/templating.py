"""Jinja2 for the studio: one environment, page-or-fragment rendering, CSRF tokens, and the
navigation a role may use."""

import hashlib
import hmac
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context

from app.accounts.principal import ROLE_SCOPES
from app.web.localtime import DEFAULT_PATTERN, format_local

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
templates = Jinja2Templates(directory=TEMPLATES_DIR)


@pass_context
def _local(context: Any, moment: Any, pattern: str = DEFAULT_PATTERN, named: bool = True) -> str:
    """`{{ issue.send_at|local }}`: a stored UTC time in the configured zone, named."""
    if moment is None:
        return ""
    zone = context["request"].app.state.settings.zone
    return format_local(moment, zone, pattern, named=named)


templates.env.filters["local"] = _local

CSRF_COOKIE = "drumbeat_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


# (label, path, the scopes any one of which shows it; empty: everyone signed in)
NAVIGATION = (
    ("Dashboard", "/studio", ()),
    ("Inbox", "/studio/inbox", ("issues:read", "news:write")),
    ("Issues", "/studio/issues", ("issues:read",)),
    ("Subscribers", "/studio/subscribers", ("subscribers:read",)),
    ("Segments", "/studio/segments", ("subscribers:read",)),
    ("Feedback", "/studio/feedback", ("feedback:read",)),
    ("Analytics", "/studio/analytics", ("stats:read",)),
    ("Archive", "/archive", ()),
    ("Settings", "/studio/settings", ("admin",)),
    ("Outbox", "/studio/outbox", ("admin",)),
)


def is_htmx(request: Request) -> bool:
    """An htmx request that wants a fragment: not a boosted link (that swaps the whole body)
    and not a history restore after a cache miss (that needs the whole page)."""
    headers = request.headers
    return (
        headers.get("hx-request") == "true"
        and headers.get("hx-boosted") != "true"
        and headers.get("hx-history-restore-request") != "true"
    )


def url_with(request: Request, **changes: str | None) -> str:
    """This page's URL with some query parameters replaced (None drops one): pagers and
    links keep the filters, so every view of a list is a bookmarkable URL."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in changes]
    added = [(k, v) for k, v in changes.items() if v is not None]
    query = urlencode(kept + added)
    return f"{request.url.path}?{query}" if query else request.url.path


def scopes_of(user: Any) -> frozenset[str]:
    return ROLE_SCOPES.get(user.role, frozenset()) if user is not None else frozenset()


def may(scopes: frozenset[str], scope: str) -> bool:
    return scope in scopes or "admin" in scopes


def navigation(request: Request, scopes: frozenset[str]) -> list[dict[str, Any]]:
    """The menu of what this role may open, the current section marked."""
    path = request.url.path
    items = []
    for label, href, needs in NAVIGATION:
        if needs and not any(may(scopes, s) for s in needs):
            continue
        current = path == href if href == "/studio" else path.startswith(href)
        items.append({"label": label, "href": href, "current": current})
    return items


def render(
    request: Request,
    page: str,
    context: dict[str, Any],
    *,
    fragment: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The full page for a normal request, the fragment for an htmx one (same URL)."""
    name = fragment if fragment and is_htmx(request) else page
    token = _csrf_cookie_value(request)
    scopes = scopes_of(context.get("user"))
    response = templates.TemplateResponse(
        request,
        name,
        {
            **context,
            "csrf_token": csrf_token_for(request, token),
            "nav": navigation(request, scopes) if context.get("user") else [],
            # Templates offer only what the role may do; the views check it again.
            "can": lambda scope: may(scopes, scope),
            "url_with": lambda **changes: url_with(request, **changes),
        },
        status_code=status_code,
    )
    response.headers["Vary"] = "HX-Request"
    _set_csrf_cookie(request, response, token)
    return response


def redirect(request: Request, url: str) -> Response:
    """A redirect that htmx follows as a whole-page navigation."""
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def csrf_token_for(request: Request, cookie_value: str) -> str:
    key = request.app.state.secret_key.encode()
    return hmac.new(key, cookie_value.encode(), hashlib.sha256).hexdigest()


def csrf_is_valid(request: Request, submitted: str | None) -> bool:
    """Double submit: the form or header token must be the signature of the cookie."""
    cookie_value = request.cookies.get(CSRF_COOKIE)
    if not cookie_value or not submitted:
        return False
    return hmac.compare_digest(csrf_token_for(request, cookie_value), submitted)


def same_origin(request: Request) -> bool:
    """Browsers send Origin on unsafe requests; a foreign one is refused outright."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    expected = f"{request.url.scheme}://{request.url.netloc}"
    return origin in (expected, request.app.state.settings.base_url.rstrip("/"))


def is_secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _csrf_cookie_value(request: Request) -> str:
    return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)


def _set_csrf_cookie(request: Request, response: Response, value: str) -> None:
    if request.cookies.get(CSRF_COOKIE) != value:
        response.set_cookie(
            CSRF_COOKIE, value, httponly=True, samesite="lax", secure=is_secure(request), path="/"
        )
