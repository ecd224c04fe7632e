"""The admin's settings: an overview linking each part, the mail transport with a test
message, and the publishing cadence. People, roles and API keys are in
app/accounts/studio.py, webhooks in app/webhooks/studio.py, privacy in app/tracking."""

import asyncio
import re
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy import func, select

from app.accounts import service as accounts
from app.accounts.models import ApiKey, Role, User
from app.audit.models import AuditEntry
from app.audit.service import record
from app.config import Settings
from app.db import utcnow
from app.delivery.transports import (
    PermanentFailure,
    SendFailure,
    SmtpTransport,
    UncertainFailure,
    transport_from_url,
)
from app.deps import SessionDep, StudioUser
from app.errors import DomainError
from app.issues import calendar
from app.issues import service as issues
from app.issues.models import CalendarUpdate
from app.segments import service as segments
from app.subscribers.normalize import normalize_email
from app.tracking import service as tracking
from app.web.pages import require, studio_router
from app.web.templating import is_htmx, redirect, render
from app.webhooks.models import WebhookEndpoint

router = studio_router()
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MAIL_TESTS_PER_MINUTE = 5
MAIL_TEST_TIMEOUT_SECONDS = 20
MAIL_TEST_ACTION = "mail.test_sent"


@router.get("/settings", response_class=HTMLResponse)
def settings_page(request: Request, session: SessionDep, ctx: StudioUser):
    require(ctx, "admin", "open the settings")
    active_users = select(func.count()).select_from(User).where(User.is_active)
    setting = calendar.current(session)
    overview = {
        "users": session.scalar(active_users),
        "admins": session.scalar(active_users.where(User.role == Role.admin)),
        "api_keys": session.scalar(
            select(func.count()).select_from(ApiKey).where(ApiKey.revoked_at.is_(None))
        ),
        "webhooks": session.scalar(select(func.count()).select_from(WebhookEndpoint)),
        "webhooks_active": session.scalar(
            select(func.count()).select_from(WebhookEndpoint).where(WebhookEndpoint.is_active)
        ),
        "mail": describe_transport(request.app.state.settings),
        "cadence": f"every {setting.cadence_days} days, on {WEEKDAYS[setting.weekday]}",
        "privacy": tracking.privacy_setting(session).mode,
    }
    return render(request, "studio/settings.html", {"user": ctx.user, "overview": overview})


# --- mail transport ----------------------------------------------------------------------


@router.get("/settings/mail", response_class=HTMLResponse)
def mail_page(request: Request, ctx: StudioUser):
    require(ctx, "admin", "see the mail transport")
    return _mail(request, ctx, form={"email": ctx.user.email})


@router.post("/settings/mail/test", response_class=HTMLResponse)
async def send_mail_test(
    request: Request,
    session: SessionDep,
    ctx: StudioUser,
    email: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """A short message to one address through the configured transport; the answer inline."""
    require(ctx, "admin", "send a test message")
    form = {"email": email}
    try:
        address = normalize_email(email)
    except ValueError as exc:
        return _mail(request, ctx, form=form, errors={"email": str(exc)}, status_code=422)
    since = utcnow() - timedelta(minutes=1)
    recent = session.scalar(
        select(func.count())
        .select_from(AuditEntry)
        .where(
            AuditEntry.action == MAIL_TEST_ACTION,
            AuditEntry.actor_id == ctx.user.id,
            AuditEntry.occurred_at > since,
        )
    )
    if recent >= MAIL_TESTS_PER_MINUTE:
        error = f"at most {MAIL_TESTS_PER_MINUTE} test messages a minute; try again shortly"
        # 422, not 429: htmx swaps only 2xx and 422 in, and this belongs beside the field.
        response = _mail(request, ctx, form=form, errors={"email": error}, status_code=422)
        response.headers["Retry-After"] = "60"
        return response
    settings: Settings = request.app.state.settings
    accepted, reply = await send_test_message(settings, to=address, sent_by=ctx.user.email)
    record(
        session,
        actor=ctx.principal,
        action=MAIL_TEST_ACTION,
        object_type="mail",
        details={"to": address, "accepted": accepted, "reply": reply[:300]},
    )
    result = {"to": address, "accepted": accepted, "reply": reply}
    return _mail(request, ctx, form=form, result=result)


def _mail(request, ctx, *, form, errors=None, result=None, status_code=200) -> HTMLResponse:
    return render(
        request,
        "studio/settings_mail.html",
        {
            "user": ctx.user,
            "transport": describe_transport(request.app.state.settings),
            "form": form,
            "errors": errors or {},
            "result": result,
            "timeout": MAIL_TEST_TIMEOUT_SECONDS,
        },
        fragment="studio/settings_mail_test.html",
        status_code=status_code,
    )


def describe_transport(settings: Settings) -> dict[str, str]:
    """What DRUMBEAT_MAIL_URL names, for people: its kind, the URL with the password masked,
    and the problem when it cannot be used."""
    shown = {"url": masked_url(settings.mail_url), "sender": settings.mail_from_address}
    try:
        transport = transport_from_url(settings.mail_url, pool_size=1)
    except ValueError as exc:
        return {**shown, "kind": "not usable", "problem": str(exc)}
    if isinstance(transport, SmtpTransport):
        details = f"{transport.host}:{transport.port}, {transport.security}"
        login = "with a login" if transport.username else "without a login"
        return {**shown, "kind": "SMTP relay", "details": f"{details}, {login}"}
    kept = f"messages are kept in {transport.path} (the outbox), not sent on"
    return {**shown, "kind": "Maildir outbox", "details": kept}


def masked_url(url: str) -> str:
    """The URL with any password replaced by ***; never the secret itself."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return parts._replace(netloc=f"{user}:***@{host}").geturl()


async def send_test_message(settings: Settings, *, to: str, sent_by: str) -> tuple[bool, str]:
    """(accepted, the server's reply or what went wrong in plain words)."""
    try:
        transport = transport_from_url(settings.mail_url, pool_size=1)
    except ValueError as exc:
        return False, f"The mail transport is not usable: {exc}"
    message = _test_message(settings, to=to, sent_by=sent_by)
    try:
        reply = await asyncio.wait_for(
            transport.send(sender=settings.mail_from_address, recipient=to, message=message),
            MAIL_TEST_TIMEOUT_SECONDS,
        )
    except TimeoutError:
        return False, f"The mail server did not answer within {MAIL_TEST_TIMEOUT_SECONDS} seconds."
    except PermanentFailure as failure:
        return False, f"The mail server refused the message: {failure}"
    except UncertainFailure as failure:
        return False, f"The connection broke after the message was sent; it may arrive: {failure}"
    except SendFailure as failure:
        return False, f"The message could not be handed over: {failure}"
    finally:
        await transport.close()
    return True, reply or "accepted"


def _test_message(settings: Settings, *, to: str, sent_by: str) -> bytes:
    message = EmailMessage()
    message["From"] = formataddr((settings.mail_from_name, settings.mail_from_address))
    message["To"] = to
    message["Subject"] = "Drumbeat: test of the mail transport"
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = make_msgid(domain=settings.mail_from_address.rpartition("@")[2])
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(
        f"This is a test message from Drumbeat's settings, sent by {sent_by}.\n\n"
        "If you can read it, the mail transport works. Nothing else to do.\n"
    )
    return message.as_bytes(policy=policy.SMTP)


# --- cadence -----------------------------------------------------------------------------


@router.get("/settings/cadence", response_class=HTMLResponse)
def cadence_page(request: Request, session: SessionDep, ctx: StudioUser):
    require(ctx, "admin", "change the cadence")
    setting = calendar.current(session)
    form = setting.model_dump(exclude={"id"})
    return _cadence(request, session, ctx, form=form)


@router.post("/settings/cadence", response_class=HTMLResponse)
def change_cadence(
    request: Request,
    session: SessionDep,
    ctx: StudioUser,
    cadence_days: Annotated[str, Form(max_length=20)] = "",
    weekday: Annotated[str, Form(max_length=20)] = "",
    plan_ahead: Annotated[str, Form(max_length=20)] = "",
    default_owner_id: Annotated[str, Form(max_length=20)] = "",
    default_segment_ids: Annotated[list[str] | None, Form()] = None,
    title_template: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    require(ctx, "admin", "change the cadence")
    form = {"cadence_days": cadence_days, "weekday": weekday, "plan_ahead": plan_ahead,
            "default_owner_id": default_owner_id, "title_template": title_template.strip(),
            "default_segment_ids": default_segment_ids or []}  # fmt: skip
    try:
        # The API's model takes integers only (JSON); a form's digits are read here.
        values = {key: _number(value) for key, value in form.items()}
        values["default_owner_id"] = values["default_owner_id"] or None
        values["default_segment_ids"] = [_number(v) for v in form["default_segment_ids"]]
        calendar.update(
            session,
            data=CalendarUpdate.model_validate(values),
            actor=ctx.principal,
            today=issues.today(),
        )
    except ValidationError as exc:
        errors = {str(e["loc"][0]): _reason(e) for e in exc.errors()}
        return _cadence(request, session, ctx, form=form, errors=errors, status_code=422)
    except DomainError as exc:
        session.rollback()
        errors = {e["field"].split(".")[0]: e["reason"] for e in exc.errors}
        errors = errors or {"cadence_days": exc.detail}
        return _cadence(request, session, ctx, form=form, errors=errors, status_code=422)
    if not is_htmx(request):
        return redirect(request, "/studio/settings/cadence")
    saved = calendar.current(session).model_dump(exclude={"id"})
    return _cadence(request, session, ctx, form=saved, notice="The cadence is saved.")


def _cadence(request, session, ctx, *, form, errors=None, notice=None, status_code=200):
    return render(
        request,
        "studio/settings_cadence.html",
        {
            "user": ctx.user,
            "form": form,
            "errors": errors or {},
            "notice": notice,
            "weekdays": WEEKDAYS,
            "owners": [u for u in accounts.list_users(session) if u.is_active],
            "segments": segments.list_all(session),
            "upcoming": calendar.overview(session, today=issues.today()).upcoming,
        },
        fragment="studio/settings_cadence_form.html",
        status_code=status_code,
    )


def _reason(error: dict) -> str:
    if error["type"] in ("int_parsing", "int_type"):
        return "enter a whole number"
    return error["msg"].removeprefix("Value error, ")


def _number(value):
    """A form field's digits as an integer; anything else as sent, for validation to refuse."""
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value.strip()):
        return int(value.strip())
    return value
