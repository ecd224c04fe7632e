"""Studio pages for signing in and out and changing one's password."""

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from app.accounts import service as accounts
from app.deps import (
    SESSION_COOKIE,
    CsrfChecked,
    SessionDep,
    SettingsDep,
    StudioUser,
    client_address,
)
from app.errors import DomainError, TooManyRequests
from app.web.templating import is_secure, redirect, render

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
