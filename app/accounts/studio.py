"""Studio pages for signing in and out and changing one's password, and the admin's
settings for people, roles and API keys."""

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from app.accounts import service as accounts
from app.accounts.models import ApiKeyCreate, Role, Scope
from app.deps import (
    NO_STORE,
    SESSION_COOKIE,
    CsrfChecked,
    SessionDep,
    SettingsDep,
    StudioUser,
    client_address,
)
from app.errors import DomainError, Invalid, TooManyRequests
from app.web.pages import require, studio_router
from app.web.templating import is_htmx, is_secure, redirect, render

router = APIRouter(prefix="/studio", include_in_schema=False)


def _safe_next(url: str | None) -> str:
    # Only local paths: a login link must not bounce the user to another site.
    if url and url.startswith("/studio") and not url.startswith("//"):
        return url
    return "/studio"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None):
    return render(request, "accounts/login.html", {"next": _safe_next(next), "error": None})


@router.post("/login", dependencies=CsrfChecked)
def log_in(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1000)],
    next: Annotated[str | None, Form()] = None,
) -> Response:
    context = {"next": _safe_next(next), "email": email}
    try:
        outcome = accounts.log_in(
            session,
            email=email,
            password=password,
            client_address=client_address(request),
            max_attempts=settings.login_attempts_per_minute,
            max_age_seconds=settings.session_max_age_seconds,
        )
    except TooManyRequests as exc:
        response = render(
            request, "accounts/login.html", {**context, "error": exc.detail}, status_code=429
        )
        response.headers.update(exc.headers)
        return response
    if outcome is None:
        return render(
            request,
            "accounts/login.html",
            {**context, "error": "Email or password is not correct."},
            status_code=401,
        )
    _user, token = outcome
    response = redirect(request, context["next"])
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_max_age_seconds,
        httponly=True,
        samesite="lax",
        secure=is_secure(request),
        path="/",
    )
    return response


@router.post("/logout", dependencies=CsrfChecked)
def log_out(request: Request, session: SessionDep) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        accounts.log_out(session, token=token)
    response = redirect(request, "/studio/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/account/password", response_class=HTMLResponse)
def password_page(request: Request, ctx: StudioUser):
    return render(
        request, "accounts/password.html", {"user": ctx.user, "error": None, "done": False}
    )


@router.post("/account/password", dependencies=CsrfChecked, response_class=HTMLResponse)
def change_password(
    request: Request,
    session: SessionDep,
    ctx: StudioUser,
    current_password: Annotated[str, Form(max_length=1000)],
    new_password: Annotated[str, Form(max_length=1000)],
):
    try:
        accounts.change_password(
            session,
            user=ctx.user,
            current_password=current_password,
            new_password=new_password,
            keep_session_id=ctx.user_session.id,
        )
    except DomainError as exc:
        return render(
            request,
            "accounts/password.html",
            {"user": ctx.user, "error": exc.detail, "done": False},
            status_code=422,
        )
    return render(
        request, "accounts/password.html", {"user": ctx.user, "error": None, "done": True}
    )


# --- settings (admin): people and roles, API keys ----------------------------------------

settings_router = studio_router()


@settings_router.get("/settings/users", response_class=HTMLResponse)
def users_page(request: Request, session: SessionDep, ctx: StudioUser):
    require(ctx, "admin", "manage users")
    return _users(request, session, ctx)


@settings_router.post("/settings/users", response_class=HTMLResponse)
def create_user(
    request: Request,
    session: SessionDep,
    ctx: StudioUser,
    email: Annotated[str, Form(max_length=320)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    role: Annotated[str, Form(max_length=20)] = "",
    initial: Annotated[str, Form(max_length=10)] = "generate",
    password: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    require(ctx, "admin", "create users")
    form = {"email": email, "name": name, "role": role, "initial": initial}
    generated = initial != "typed"
    secret = accounts.generate_password() if generated else password
    try:
        user = accounts.create_user(
            session,
            email=email,
            role=_role(role),
            name=name.strip(),
            password=secret,
            actor=ctx.principal,
        )
    except DomainError as exc:
        session.rollback()
        return _users(request, session, ctx, form=form, errors=_field_errors(exc, "email"))
    shown = {"label": f"Password for {user.email}", "value": secret} if generated else None
    notice = f"{user.email} can sign in now as {user.role}."
    return _users(request, session, ctx, notice=notice, secret=shown)


@settings_router.post("/settings/users/{user_id}/role", response_class=HTMLResponse)
def change_role(
    request: Request,
    session: SessionDep,
    ctx: StudioUser,
    user_id: int,
    role: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    require(ctx, "admin", "change roles")
    person = accounts.get_user(session, user_id=user_id)
    try:
        accounts.change_role(
            session,
            user=person,
            role=_role(role),
            actor=ctx.principal,
            keep_session_id=ctx.user_session.id,
        )
    except DomainError as exc:
        session.rollback()
        return _users(request, session, ctx, row_errors={user_id: _field_errors(exc, "role")})
    if person.id == ctx.user.id and person.role != "admin":
        return redirect(request, "/studio")  # no settings for them any more
    notice = f"{person.email} is now {person.role}; their sessions were ended."
    return _users(request, session, ctx, notice=notice, done=True)


@settings_router.post("/settings/users/{user_id}/active", response_class=HTMLResponse)
def set_active(
    request: Request,
    session: SessionDep,
    ctx: StudioUser,
    user_id: int,
    active: Annotated[bool, Form()],
) -> Response:
    require(ctx, "admin", "deactivate users")
    person = accounts.get_user(session, user_id=user_id)
    try:
        accounts.set_active(session, user=person, is_active=active, actor=ctx.principal)
    except DomainError as exc:
        session.rollback()
        return _users(request, session, ctx, row_errors={user_id: _field_errors(exc, "is_active")})
    state = "reactivated" if active else "deactivated and signed out"
    return _users(request, session, ctx, notice=f"{person.email} was {state}.", done=True)


@settings_router.post("/settings/users/{user_id}/password", response_class=HTMLResponse)
def reset_password(request: Request, session: SessionDep, ctx: StudioUser, user_id: int):
    require(ctx, "admin", "reset passwords")
    person = accounts.get_user(session, user_id=user_id)
    if person.id == ctx.user.id:
        error = {"password": "change your own password under Password, with your current one"}
        return _users(request, session, ctx, row_errors={user_id: error})
    secret = accounts.generate_password()
    accounts.reset_password(session, user=person, password=secret, actor=ctx.principal)
    shown = {"label": f"New password for {person.email}", "value": secret}
    notice = f"{person.email} has a new password; their sessions were ended."
    return _users(request, session, ctx, notice=notice, secret=shown)


def _users(request, session, ctx, *, form=None, errors=None, row_errors=None, notice=None,
           secret=None, done=False) -> Response:  # fmt: skip
    """The users page (or its fragment); a plain form's success goes back to it (PRG)."""
    if done and not is_htmx(request):
        return redirect(request, "/studio/settings/users")
    failed = bool(errors or row_errors)
    response = render(
        request,
        "accounts/users.html",
        {
            "user": ctx.user,
            "people": accounts.list_users(session),
            "roles": list(Role),
            "form": form or {"role": Role.editor.value, "initial": "generate"},
            "errors": errors or {},
            "row_errors": row_errors or {},
            "notice": notice,
            "secret": secret,
            "min_password": accounts.MIN_PASSWORD_LENGTH,
        },
        fragment="accounts/_users.html",
        status_code=422 if failed else 200,
    )
    response.headers.update(NO_STORE)
    return response


@settings_router.get("/settings/api-keys", response_class=HTMLResponse)
def api_keys_page(request: Request, session: SessionDep, ctx: StudioUser):
    require(ctx, "admin", "manage API keys")
    return _keys(request, session, ctx)


@settings_router.post("/settings/api-keys", response_class=HTMLResponse)
def create_api_key(
    request: Request,
    session: SessionDep,
    ctx: StudioUser,
    name: Annotated[str, Form(max_length=1000)] = "",
    scopes: Annotated[list[str] | None, Form()] = None,
) -> Response:
    require(ctx, "admin", "create API keys")
    form = {"name": name, "scopes": scopes or []}
    try:
        data = ApiKeyCreate.model_validate({"name": name.strip(), "scopes": scopes or []})
    except ValidationError as exc:
        errors = {str(e["loc"][0]): _reason(e) for e in exc.errors()}
        return _keys(request, session, ctx, form=form, errors=errors)
    key, secret = accounts.create_api_key(session, data=data, actor=ctx.principal)
    shown = {"label": f"API key {key.name}", "value": secret}
    return _keys(request, session, ctx, notice=f"Key {key.name} created.", secret=shown)


@settings_router.post("/settings/api-keys/{key_id}/revoke", response_class=HTMLResponse)
def revoke_api_key(request: Request, session: SessionDep, ctx: StudioUser, key_id: int):
    require(ctx, "admin", "revoke API keys")
    key = accounts.revoke_api_key(session, key_id=key_id, actor=ctx.principal)
    notice = f"Key {key.name} is revoked; its next call gets 401."
    return _keys(request, session, ctx, notice=notice, done=True)


def _keys(request, session, ctx, *, form=None, errors=None, notice=None, secret=None,
          done=False) -> Response:  # fmt: skip
    if done and not is_htmx(request):
        return redirect(request, "/studio/settings/api-keys")
    response = render(
        request,
        "accounts/api_keys.html",
        {
            "user": ctx.user,
            "api_keys": accounts.list_api_keys(session),
            "scopes": list(Scope),
            "form": form or {"name": "", "scopes": []},
            "errors": errors or {},
            "notice": notice,
            "secret": secret,
        },
        fragment="accounts/_api_keys.html",
        status_code=422 if errors else 200,
    )
    response.headers.update(NO_STORE)
    return response


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise Invalid("role", f"choose one of {', '.join(r.value for r in Role)}") from None


def _field_errors(exc: DomainError, default_field: str) -> dict[str, str]:
    return {e["field"]: e["reason"] for e in exc.errors} or {default_field: exc.detail}


def _reason(error: dict) -> str:
    """Pydantic's message for an API key form field, in the studio's words."""
    field = error["loc"][0]
    if field == "scopes" and error["type"] == "too_short":
        return "choose at least one scope"
    if field == "name" and error["type"] == "string_too_short":
        return "give the key a name, e.g. the system that will use it"
    return error["msg"].removeprefix("Value error, ")
