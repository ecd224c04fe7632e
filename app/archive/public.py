"""The intranet archive: sent issues, their web versions, an Atom feed, pinned news flashes.

No sign-in: everything here is for every employee, so nothing personal is shown, and the
pages forbid scripts outright (Content-Security-Policy) on top of sanitised content.
"""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from app.archive import service as archive
from app.deps import SessionDep
from app.errors import NotFound
from app.web.templating import templates

router = APIRouter(include_in_schema=False)
FEED_TYPE = "application/atom+xml"
LIST_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# As the web version: remote images in the email are fine, scripts never.
ISSUE_HEADERS = {
    **LIST_HEADERS,
    "Content-Security-Policy": "default-src 'none'; img-src * data:; "
    "style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'self'",
}


def _page_number(raw: str) -> int:
    # A hand-edited ?page= that is not a number shows the first page rather than an error.
    return int(raw) if raw.isdigit() and 0 < int(raw) < 100_000 else 1


@router.get("/archive", response_class=HTMLResponse)
def archive_page(request: Request, session: SessionDep, page: str = "1"):
    number = _page_number(page)
    entries, total = archive.sent_issues(session, page=number)
    last_page = max(1, -(-total // archive.PAGE_SIZE))
    return templates.TemplateResponse(
        request,
        "archive/index.html",
        {
            "entries": entries,
            "flashes": archive.active_flashes(session),
            "page": number,
            "last_page": last_page,
            "total": total,
            "organisation": request.app.state.settings.organisation,
        },
        headers=LIST_HEADERS,
    )


@router.get("/archive/feed.atom")
def archive_feed(request: Request, session: SessionDep) -> Response:
    settings = request.app.state.settings
    body = archive.atom_feed(
        session,
        base_url=settings.base_url,
        title=f"{settings.organisation} bulletin",
        author=settings.organisation,
    )
    return Response(body, media_type=FEED_TYPE, headers={"X-Content-Type-Options": "nosniff"})


@router.get("/archive/{issue_id}", response_class=HTMLResponse)
def archived_issue(issue_id: str, request: Request, session: SessionDep):
    """The issue's web version as everyone reads it, under a bar back to the archive."""
    if not issue_id.isdigit() or len(issue_id) > 18:
        raise NotFound("there is no such issue in the archive")
    entry = archive.sent_issue(session, issue_id=int(issue_id))
    banner = templates.get_template("archive/_banner.html").render(entry=entry, request=request)
    html = archive.web_version(
        session, renderer=request.app.state.renderer, issue=entry.issue, banner=banner
    )
    return HTMLResponse(html, headers=ISSUE_HEADERS)


@router.get("/preferences", response_class=HTMLResponse)
def shared_copy_preferences(request: Request):
    """Where the unsubscribe and preference links of a shared copy (the archive, the web
    version, a forwarded preview) lead: they cannot name a person, so this page says how."""
    settings = request.app.state.settings
    return templates.TemplateResponse(
        request,
        "public/shared_copy.html",
        {"contact": settings.mail_reply_to or settings.mail_from_address},
        headers=LIST_HEADERS,
    )
