"""Webhooks in the admin's settings: endpoints with their events, secrets shown once, and
each endpoint's recent deliveries. Same service calls as /api/v1/webhooks."""

from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from app.deps import NO_STORE, SessionDep, StudioUser
from app.web.pages import require, studio_router
from app.web.templating import is_htmx, redirect, render
from app.webhooks import service as webhooks
from app.webhooks.models import (
    ALL_EVENTS,
    WebhookEndpointCreate,
    WebhookEndpointUpdate,
    WebhookEvent,
)

router = studio_router()
RECENT_DELIVERIES = 25
LIST = "/studio/settings/webhooks"


@router.get("/settings/webhooks", response_class=HTMLResponse)
def webhooks_page(request: Request, session: SessionDep, ctx: StudioUser):
    require(ctx, "admin", "manage webhooks")
    return _list(request, session, ctx)


@router.post("/settings/webhooks", response_class=HTMLResponse)
def create_webhook(
    request: Request,
    session: SessionDep,
    ctx: StudioUser,
    url: Annotated[str, Form(max_length=5000)] = "",
    description: Annotated[str, Form(max_length=5000)] = "",
    events: Annotated[list[str] | None, Form()] = None,
) -> Response:
    require(ctx, "admin", "create webhooks")
    form = {"url": url, "description": description, "events": events or []}
    try:
        data = WebhookEndpointCreate.model_validate(form)
    except ValidationError as exc:
        errors = {str(e["loc"][0]): _reason(e) for e in exc.errors()}
        return _list(request, session, ctx, form=form, errors=errors)
    endpoint = webhooks.create(session, data=data, actor=ctx.principal)
    shown = {"label": f"Signing secret for {endpoint.url}", "value": endpoint.secret}
    return _list(request, session, ctx, notice="Webhook added.", secret=shown)


@router.post("/settings/webhooks/{webhook_id}/active", response_class=HTMLResponse)
def set_active(
    request: Request,
    session: SessionDep,
    ctx: StudioUser,
    webhook_id: int,
    active: Annotated[bool, Form()],
) -> Response:
    require(ctx, "admin", "change webhooks")
    endpoint = webhooks.get(session, endpoint_id=webhook_id)
    data = WebhookEndpointUpdate(is_active=active)
    webhooks.update(session, endpoint=endpoint, data=data, actor=ctx.principal)
    state = "active again: waiting deliveries go out" if active else "paused: deliveries wait"
    return _list(request, session, ctx, notice=f"{endpoint.url} is {state}.", done=True)


@router.post("/settings/webhooks/{webhook_id}/rotate", response_class=HTMLResponse)
def rotate_secret(request: Request, session: SessionDep, ctx: StudioUser, webhook_id: int):
    require(ctx, "admin", "rotate webhook secrets")
    endpoint = webhooks.get(session, endpoint_id=webhook_id)
    secret = webhooks.rotate_secret(session, endpoint=endpoint, actor=ctx.principal)
    shown = {"label": f"New signing secret for {endpoint.url}", "value": secret}
    notice = "The old secret no longer signs anything: update the receiver now."
    return _list(request, session, ctx, notice=notice, secret=shown)


@router.post("/settings/webhooks/{webhook_id}/delete", response_class=HTMLResponse)
def delete_webhook(request: Request, session: SessionDep, ctx: StudioUser, webhook_id: int):
    require(ctx, "admin", "delete webhooks")
    endpoint = webhooks.get(session, endpoint_id=webhook_id)
    url = endpoint.url
    webhooks.delete(session, endpoint=endpoint, actor=ctx.principal)
    return _list(request, session, ctx, notice=f"{url} was deleted.", done=True)


@router.get("/settings/webhooks/{webhook_id}", response_class=HTMLResponse)
def webhook_page(request: Request, session: SessionDep, ctx: StudioUser, webhook_id: int):
    require(ctx, "admin", "see webhook deliveries")
    return _detail(request, session, ctx, webhook_id=webhook_id)


@router.post("/settings/webhooks/{webhook_id}/ping", response_class=HTMLResponse)
def ping(request: Request, session: SessionDep, ctx: StudioUser, webhook_id: int):
    require(ctx, "admin", "ping webhooks")
    endpoint = webhooks.get(session, endpoint_id=webhook_id)
    webhooks.ping(session, endpoint=endpoint, actor=ctx.principal)
    if not is_htmx(request):
        return redirect(request, f"{LIST}/{webhook_id}")
    notice = "A ping is queued; reload to see how it went."
    return _detail(request, session, ctx, webhook_id=webhook_id, notice=notice)


def _list(request, session, ctx, *, form=None, errors=None, notice=None, secret=None,
          done=False) -> Response:  # fmt: skip
    """The endpoints page (or its fragment); a plain form's success goes back to it (PRG)."""
    if done and not is_htmx(request):
        return redirect(request, LIST)
    response = render(
        request,
        "webhooks/list.html",
        {
            "user": ctx.user,
            "endpoints": webhooks.list_endpoints(session),
            "events": [e.value for e in WebhookEvent],
            "all_events": ALL_EVENTS,
            "form": form or {"url": "", "description": "", "events": [ALL_EVENTS]},
            "errors": errors or {},
            "notice": notice,
            "secret": secret,
        },
        fragment="webhooks/_list.html",
        status_code=422 if errors else 200,
    )
    response.headers.update(NO_STORE)
    return response


def _detail(request, session, ctx, *, webhook_id: int, notice=None) -> HTMLResponse:
    endpoint = webhooks.get(session, endpoint_id=webhook_id)
    deliveries = webhooks.list_deliveries(session, endpoint=endpoint, limit=RECENT_DELIVERIES)
    return render(
        request,
        "webhooks/detail.html",
        {"user": ctx.user, "endpoint": endpoint, "deliveries": deliveries, "notice": notice},
        fragment="webhooks/_deliveries.html",
    )


def _reason(error: dict) -> str:
    if error["loc"][0] == "url" and error["type"] == "string_too_long":
        return "the URL is too long"
    return error["msg"].removeprefix("Value error, ")
