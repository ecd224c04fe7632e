"""Previews of an issue as its audiences will see it, and the public web version."""

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from app.accounts.principal import ISSUES_WRITE, Principal
from app.api_types import PathId, QueryId
from app.deps import SessionDep, require_scope
from app.errors import NotFound
from app.issues import service as issues
from app.issues.models import Issue, IssueStatus
from app.rendering.proofs import ProofRequest, ProofResult, send_test
from app.rendering.service import Renderer, preview_variant, variant_of
from app.subscribers import service as subscribers
from app.tracking.tokens import Purpose

router = APIRouter(tags=["rendering"])
# Rendered content is sanitised already; the policy makes sure nothing in it could run.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src * data:; "
    "style-src 'unsafe-inline'; frame-ancestors 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class PreviewFormat(StrEnum):
    html = "html"
    text = "text"


def _renderer(request: Request) -> Renderer:
    return request.app.state.renderer


@router.get(
    "/api/v1/issues/{issue_id}/preview",
    response_class=HTMLResponse,
    responses={
        200: {
            "description": "The HTML part, or with format=text the plain-text part",
            "content": {"text/html": {}, "text/plain": {"schema": {"type": "string"}}},
        }
    },
)
def preview(
    issue_id: PathId,
    request: Request,
    session: SessionDep,
    _: Annotated[Principal, require_scope("issues:read")],
    segment_id: QueryId | None = None,
    subscriber_id: QueryId | None = None,
    format: Annotated[PreviewFormat, Query()] = PreviewFormat.html,
) -> Response:
    """The email as a segment (default: the first target) or a sample subscriber gets it."""
    renderer = _renderer(request)
    issue = issues.get(session, issue_id=issue_id)
    subscriber = None
    if subscriber_id is not None:
        subscriber = subscribers.get(session, subscriber_id=subscriber_id)
        variant = variant_of(session, issue=issue, subscriber=subscriber)
    else:
        variant = preview_variant(session, issue=issue, segment_id=segment_id)
    compiled = renderer.compiled(session, issue=issue, segment_ids=variant)
    values = renderer.values_for(compiled, issue_id=issue.id, subscriber=subscriber)
    if format == PreviewFormat.text:
        return PlainTextResponse(compiled.text.fill(values), headers=PAGE_HEADERS)
    return HTMLResponse(compiled.html.fill(values), headers=PAGE_HEADERS)


@router.post("/api/v1/issues/{issue_id}/test-send", response_model=list[ProofResult])
async def test_send(
    issue_id: PathId,
    data: ProofRequest,
    request: Request,
    actor: Annotated[Principal, require_scope(ISSUES_WRITE)],
):
    """Send the issue, marked [Test], to up to 10 addresses (e.g. yourself) right away."""
    return await send_test(
        request.app.state.engine,
        renderer=_renderer(request),
        mail_url=request.app.state.settings.mail_url,
        issue_id=issue_id,
        data=data,
        actor=actor,
    )


@router.get("/web/{token}", response_class=HTMLResponse, include_in_schema=False)
def web_version(token: str, request: Request, session: SessionDep) -> HTMLResponse:
    """The issue as its variant reads it, with no personal data; a bad token is a 404."""
    renderer = _renderer(request)
    values = renderer.signer.read(Purpose.web_version, token)
    issue = None
    if values:
        issue = session.get(Issue, values[0])
    if issue is None or issue.status == IssueStatus.cancelled:
        raise NotFound("there is no such bulletin")
    compiled = renderer.compiled(session, issue=issue, segment_ids=tuple(values[1:]))
    neutral = renderer.values_for(compiled, issue_id=issue.id, subscriber=None)
    return HTMLResponse(compiled.html.fill(neutral), headers=PAGE_HEADERS)
