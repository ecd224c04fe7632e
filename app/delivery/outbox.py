"""The embedded outbox: what `make run` "sent", listed and readable through the API."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from app.accounts.principal import Principal
from app.delivery.transports import MaildirTransport, transport_from_url
from app.deps import require_scope
from app.errors import Conflict, NotFound

router = APIRouter(prefix="/api/v1/outbox", tags=["delivery"])
Admin = Annotated[Principal, require_scope("admin")]


class OutboxMessage(BaseModel):
    key: str
    recipient: str
    to: str
    subject: str
    date: datetime | None


def _outbox(request: Request) -> MaildirTransport:
    transport = transport_from_url(request.app.state.settings.mail_url)
    if not isinstance(transport, MaildirTransport):
        raise Conflict("mail goes out through SMTP here; there is no local outbox to show")
    return transport


@router.get("", response_model=list[OutboxMessage])
def list_outbox(request: Request, _: Admin, limit: Annotated[int, Query(ge=1, le=500)] = 50):
    """The newest messages written to the Maildir outbox (DRUMBEAT_MAIL_URL=maildir://...)."""
    return [OutboxMessage(**vars(entry)) for entry in _outbox(request).list_messages(limit)]


@router.get("/{key}", response_class=Response)
def read_outbox_message(key: str, request: Request, _: Admin) -> Response:
    """One message as it would have left, headers and all (message/rfc822)."""
    try:
        raw = _outbox(request).read_message(key)
    except KeyError as exc:
        raise NotFound(f"no message {key!r} in the outbox") from exc
    return Response(raw, media_type="message/rfc822")
