"""Request dependencies as named types: the unit of work, settings, the caller."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from app.accounts import service as accounts
from app.accounts.models import User, UserSession
from app.accounts.principal import Principal
from app.config import Settings
from app.db import unit_of_work
from app.errors import Forbidden, Unauthorized
from app.web.templating import CSRF_FIELD, CSRF_HEADER, csrf_is_valid, same_origin


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request, committed when the route returns without error."""
    with unit_of_work(request.app.state.engine) as session:
        yield session


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


# scope="function": commit when the route returns, before the response leaves, so a client
# acting on the response at once (a browser following a redirect) sees what was written.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def bearer_token(request: Request) -> str:
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthorized(
            "send an API key or a user token as 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": 'Bearer realm="drumbeat"'},
        )
    return secret.strip()


def api_principal(request: Request, session: SessionDep) -> Principal:
    """The caller behind the bearer token: a service's API key or a user's session token."""
    secret = bearer_token(request)
    if secret.startswith(accounts.API_KEY_PREFIX):
        return accounts.principal_for_api_key(session, secret=secret)
    return accounts.principal_for_session_token(session, token=secret)


ApiPrincipal = Annotated[Principal, Depends(api_principal)]


def require_scope(scope: str):
    """A dependency that lets the call through only with `scope` (or `admin`)."""

    def check(principal: ApiPrincipal) -> Principal:
        if not principal.allows(scope):
            raise Forbidden(f"{principal.label} lacks the permission {scope!r}")
        return principal

    return Depends(check)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


SESSION_COOKIE = "drumbeat_session"
# Answers that show a secret once (a password, API key or signing secret) stay out of every
# cache, in the API and the studio alike.
NO_STORE = {"Cache-Control": "no-store"}


class LoginRequired(Exception):
    """Raised by studio dependencies; the handler sends the browser to the login page."""


class StudioContext:
    """The signed-in studio user and their session row."""

    def __init__(self, user: User, user_session: UserSession):
        self.user = user
        self.user_session = user_session
        self.principal = accounts.principal_for_user(user)


def studio_context(request: Request, session: SessionDep) -> StudioContext:
    token = request.cookies.get(SESSION_COOKIE)
    found = accounts.user_for_session_token(session, token=token) if token else None
    if found is None:
        raise LoginRequired()
    return StudioContext(*found)


def verify_csrf(request: Request) -> None:
    """Every unsafe studio request carries the CSRF token and no foreign Origin."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    submitted = request.headers.get(CSRF_HEADER)
    if submitted is None:
        submitted = request.state.form.get(CSRF_FIELD) if hasattr(request.state, "form") else None
    if not same_origin(request) or not csrf_is_valid(request, submitted):
        raise Forbidden("the form is stale or came from another site; reload the page")


async def load_form(request: Request) -> None:
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        request.state.form = await request.form()


StudioUser = Annotated[StudioContext, Depends(studio_context)]
CsrfChecked = [Depends(load_form), Depends(verify_csrf)]
