"""The open pixel and the click redirect. Both answer without waiting on the database:
the hit goes to the recorder's queue. GET and HEAD never change a subscriber.

- ``/o/{reader}.gif`` always answers the 43-byte GIF with no-store, whatever the token.
- ``/c/{link}/{reader}`` redirects (302) only to the URL registered for that link. A link
  token that fails its check gets a plain 404 page. A valid link token with a reader token
  that fails (mangled by a mail client, or the web version's untracked reader) still
  redirects, but records nothing: only hits of a known recipient are counted.
"""

import base64
from collections import OrderedDict
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from app.rendering.links import link_check
from app.tracking.models import EventKind, TrackedLink
from app.tracking.recorder import Hit, Recorder
from app.tracking.tokens import Purpose, TokenSigner

router = APIRouter(include_in_schema=False)
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")
PIXEL_HEADERS = {"Cache-Control": "no-store, max-age=0", "X-Content-Type-Options": "nosniff"}
NOT_FOUND = (
    "<!doctype html><title>Not found</title><h1>Not found</h1>"
    "<p>This link is not valid (any more).</p>"
)
LINK_CACHE_SIZE = 20_000


@dataclass(frozen=True, slots=True)
class Link:
    issue_id: int
    excerpt_id: int | None
    url: str
    check: int  # app.rendering.links.link_check of its digest


class LinkDirectory:
    """Registered links by id, cached: a link's URL never changes once registered."""

    def __init__(self, engine):
        self.engine = engine
        self._cache: OrderedDict[int, Link] = OrderedDict()

    async def get(self, link_id: int, check: int) -> Link | None:
        """The link, if `check` (from the token) matches it; the cache is reloaded once on
        a mismatch, since a deleted link's id can be given to a new one."""
        link = self._cache.get(link_id)
        if link is None or link.check != check:
            link = await run_in_threadpool(self._load, link_id)
            if link is None:  # unknown ids are not cached: a token cannot name many
                self._cache.pop(link_id, None)
                return None
            self._cache[link_id] = link
            if len(self._cache) > LINK_CACHE_SIZE:
                self._cache.popitem(last=False)
        return link if link.check == check else None

    def _load(self, link_id: int) -> Link | None:
        with Session(self.engine) as session:
            row = session.get(TrackedLink, link_id)
        if row is None:
            return None
        return Link(row.issue_id, row.excerpt_id, row.url, link_check(row.digest))


def _hit(request: Request, kind: str, reader: tuple[int, ...], link_id=None, excerpt_id=None):
    return Hit(
        kind=kind,
        issue_id=reader[0],
        subscriber_id=reader[1],
        variant=tuple(reader[2:]),
        link_id=link_id,
        excerpt_id=excerpt_id,
        method=request.method,
        ip=request.client.host if request.client else "",
        user_agent=request.headers.get("user-agent", ""),
        occurred_at=request.app.state.recorder.now(),
    )


def _reader(signer: TokenSigner, token: str) -> tuple[int, ...] | None:
    values = signer.read(Purpose.reader, token)
    # Subscriber 0 is the reader of previews, test sends and the web version.
    if values is None or len(values) < 2 or values[1] == 0:
        return None
    return values


@router.api_route("/o/{token}.gif", methods=["GET", "HEAD"])
async def open_pixel(token: str, request: Request) -> Response:
    state = request.app.state
    reader = _reader(state.renderer.signer, token)
    if reader is not None:
        state.recorder.add(_hit(request, EventKind.open, reader))
    return Response(PIXEL, media_type="image/gif", headers=PIXEL_HEADERS)


@router.api_route("/c/{link_token}/{reader_token}", methods=["GET", "HEAD"])
async def click(link_token: str, reader_token: str, request: Request) -> Response:
    state = request.app.state
    recorder: Recorder = state.recorder
    values = state.renderer.signer.read(Purpose.click, link_token, count=3)
    link = await state.link_directory.get(values[1], values[2]) if values else None
    if link is None or link.issue_id != values[0]:
        return HTMLResponse(NOT_FOUND, status_code=404, headers={"Cache-Control": "no-store"})
    reader = _reader(state.renderer.signer, reader_token)
    if reader is not None and reader[0] == link.issue_id:
        recorder.add(_hit(request, EventKind.click, reader, values[1], link.excerpt_id))
    return RedirectResponse(
        link.url,  # percent-encodes what a header cannot carry
        status_code=302,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )
