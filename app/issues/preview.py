"""The issue's email inside the studio: a preview per target segment (shown in a sandboxed
iframe at desktop and phone width) and a test send to oneself. Same calls as the API's
/preview and /test-send (app/rendering)."""

from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import HTMLResponse, Response

from app.accounts.principal import ISSUES_WRITE
from app.deps import SessionDep, StudioUser
from app.issues import service as issues
from app.rendering.api import PAGE_HEADERS
from app.rendering.proofs import ProofRequest, send_test
from app.rendering.service import preview_variant
from app.web.pages import require, studio_router
from app.web.templating import render

router = studio_router()
# The email is framed by the studio itself; it gets the rendering's own policy (inline
# styles, which email needs, and nothing that could run), not the studio's.
PREVIEW_HEADERS = {**PAGE_HEADERS, "X-Frame-Options": "SAMEORIGIN"}


@router.get("/issues/{issue_id}/preview", response_class=HTMLResponse)
def preview(
    request: Request,
    issue_id: int,
    session: SessionDep,
    ctx: StudioUser,
    segment_id: Annotated[int | None, Query()] = None,
) -> Response:
    require(ctx, "issues:read", "read issues")
    renderer = request.app.state.renderer
    issue = issues.get(session, issue_id=issue_id)
    variant = preview_variant(session, issue=issue, segment_id=segment_id)
    compiled = renderer.compiled(session, issue=issue, segment_ids=variant)
    values = renderer.values_for(compiled, issue_id=issue.id, subscriber=None)
    return HTMLResponse(compiled.html.fill(values), headers=PREVIEW_HEADERS)


@router.post("/issues/{issue_id}/test-send", response_class=HTMLResponse)
async def test_send(
    request: Request, issue_id: int, ctx: StudioUser, segment_id: int | None = None
) -> Response:
    """The issue as the chosen segment gets it, marked [Test], to the signed-in person."""
    require(ctx, ISSUES_WRITE, "send tests")
    results = await send_test(
        request.app.state.engine,
        renderer=request.app.state.renderer,
        mail_url=request.app.state.settings.mail_url,
        issue_id=issue_id,
        data=ProofRequest(emails=[ctx.user.email], segment_id=segment_id),
        actor=ctx.principal,
    )
    return render(request, "issues/_test_sent.html", {"results": results})
