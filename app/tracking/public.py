"""Pages a subscriber reaches from an email: unsubscribe (RFC 8058 one-click too),
preferences and "was this useful?". Link scanners fetch every URL, so GET and HEAD never
change anything; a bad token gets a plain 404 page."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.accounts.principal import Principal
from app.analytics.unsubscribe import record_unsubscribe
from app.audit.service import record
from app.db import utcnow
from app.deps import SessionDep
from app.errors import Forbidden, NotFound
from app.feedback import votes
from app.feedback.service import InvalidFeedback
from app.issues.models import Excerpt
from app.subscribers.models import Subscriber, SubscriberStatus
from app.tracking.models import ExcerptFeedback
from app.tracking.tokens import Purpose, TokenSigner
from app.web.templating import same_origin, templates

router = APIRouter(include_in_schema=False)
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _signer(request: Request) -> TokenSigner:
    return request.app.state.renderer.signer


def _subscriber(session, request: Request, purpose: Purpose, token: str) -> Subscriber:
    values = _signer(request).read(purpose, token)
    subscriber = session.get(Subscriber, values[0]) if values else None
    if subscriber is None:
        raise NotFound("this link is not valid (any more)")
    return subscriber


def _page(request: Request, name: str, context: dict, status_code: int = 200) -> HTMLResponse:
    return templates.TemplateResponse(
        request, name, context, status_code=status_code, headers=PAGE_HEADERS
    )


@router.get("/u/{token}", response_class=HTMLResponse)
def unsubscribe_page(token: str, request: Request, session: SessionDep):
    """Asks; does not act (a scanner following the link must not unsubscribe anyone)."""
    subscriber = _subscriber(session, request, Purpose.unsubscribe, token)
    return _page(
        request,
        "public/unsubscribe.html",
        {"token": token, "done": subscriber.status == SubscriberStatus.unsubscribed},
    )


@router.post("/u/{token}", response_class=HTMLResponse)
def unsubscribe(token: str, request: Request, session: SessionDep):
    """One click: from the page's button, or a mail client's RFC 8058 POST (no cookie, no
    CSRF token). Unsubscribing twice is fine (and counts once in the issue's stats)."""
    subscriber = _subscriber(session, request, Purpose.unsubscribe, token)
    if subscriber.status != SubscriberStatus.unsubscribed:
        # The token carries (subscriber id, issue id): the issue whose email was used.
        values = _signer(request).read(Purpose.unsubscribe, token)
        if len(values) >= 2:
            record_unsubscribe(session, issue_id=values[1], subscriber_id=subscriber.id)
    _set_status(session, subscriber, SubscriberStatus.unsubscribed, via="unsubscribe link")
    return _page(request, "public/unsubscribe.html", {"token": token, "done": True})


@router.get("/p/{token}", response_class=HTMLResponse)
def preferences_page(token: str, request: Request, session: SessionDep):
    subscriber = _subscriber(session, request, Purpose.preferences, token)
    return _page(request, "public/preferences.html", {"token": token, "subscriber": subscriber})


@router.post("/p/{token}", response_class=HTMLResponse)
async def update_preferences(token: str, request: Request, session: SessionDep):
    subscriber = _subscriber(session, request, Purpose.preferences, token)
    choice = (await request.form()).get("subscription")
    if choice == "unsubscribe":
        _set_status(session, subscriber, SubscriberStatus.unsubscribed, via="preferences")
    elif choice == "resubscribe" and subscriber.status == SubscriberStatus.unsubscribed:
        # Only the person themselves can undo an unsubscribe; bounces and blocks stay.
        _set_status(session, subscriber, SubscriberStatus.active, via="preferences")
    return _page(
        request,
        "public/preferences.html",
        {"token": token, "subscriber": subscriber, "saved": True},
    )


def _set_status(session, subscriber: Subscriber, status: SubscriberStatus, *, via: str) -> None:
    if subscriber.status == status:
        return
    subscriber.status = status
    subscriber.status_changed_at = subscriber.updated_at = utcnow()
    session.add(subscriber)
    actor = Principal(kind="subscriber", id=subscriber.id, label="the subscriber")
    record(
        session,
        actor=actor,
        action=f"subscriber.{status.value}",
        object_type="subscriber",
        object_id=subscriber.id,
        details={"via": via},
    )


@router.get("/f/{token}", response_class=HTMLResponse)
def feedback_page(token: str, request: Request, session: SessionDep):
    """The vote the reader clicked, to confirm with one button (and an optional comment):
    scanners that follow every link record nothing."""
    _, excerpt_id, useful = _vote(session, request, token)
    excerpt = session.get(Excerpt, excerpt_id)
    return _page(
        request,
        "public/feedback.html",
        {"token": token, "headline": excerpt.headline, "useful": useful},
    )


@router.post("/f/{token}", response_class=HTMLResponse)
async def record_feedback(token: str, request: Request, session: SessionDep):
    issue_id, excerpt_id, useful = _vote(session, request, token)
    comment = str((await request.form()).get("comment") or "")
    vote = votes.record_vote(
        session, issue_id=issue_id, excerpt_id=excerpt_id, useful=useful, comment=comment.strip()
    )
    return _details_page(request, session, vote, thanks=True)


@router.get("/f/more/{token}", response_class=HTMLResponse)
def feedback_details_page(token: str, request: Request, session: SessionDep):
    """The optional comment and ratings for a vote already recorded (changes nothing)."""
    return _details_page(request, session, _recorded_vote(session, request, token))


@router.post("/f/more/{token}", response_class=HTMLResponse)
async def add_feedback_details(token: str, request: Request, session: SessionDep):
    """Adds a comment and ratings to the same vote row; the signed token names the row."""
    vote = _recorded_vote(session, request, token)
    if not same_origin(request):
        raise Forbidden("this form can only be sent from its own page")
    posted = await request.form()
    try:
        details = votes.read_details(posted)
    except InvalidFeedback as exc:
        return _details_page(
            request, session, vote, values=posted, errors=exc.by_field, status_code=422
        )
    votes.add_details(session, vote=vote, details=details)
    return _details_page(request, session, vote, saved=True)


def _recorded_vote(session, request: Request, token: str) -> ExcerptFeedback:
    values = _signer(request).read(Purpose.feedback_details, token, count=1)
    vote = session.get(ExcerptFeedback, values[0]) if values else None
    if vote is None:
        raise NotFound("this link is not valid (any more)")
    return vote


def _details_page(
    request: Request,
    session,
    vote: ExcerptFeedback,
    *,
    values=None,
    errors: dict[str, str] | None = None,
    thanks: bool = False,
    saved: bool = False,
    status_code: int = 200,
) -> HTMLResponse:
    shown = {"comment": vote.comment, "relevance": vote.relevance, "clarity": vote.clarity}
    if values is not None:
        shown = {k: v for k, v in values.items() if k in shown and isinstance(v, str)}
    return _page(
        request,
        "public/feedback.html",
        {
            "details_token": _signer(request).make(Purpose.feedback_details, vote.id),
            "headline": session.get(Excerpt, vote.excerpt_id).headline,
            "useful": vote.useful,
            "values": shown,
            "errors": errors or {},
            "thanks": thanks,
            "saved": saved,
        },
        status_code=status_code,
    )


def _vote(session, request: Request, token: str) -> tuple[int, int, bool]:
    values = _signer(request).read(Purpose.feedback, token, count=3)
    excerpt = session.get(Excerpt, values[1]) if values else None
    if excerpt is None or excerpt.issue_id != values[0] or values[2] not in (0, 1):
        raise NotFound("this link is not valid (any more)")
    return values[0], values[1], bool(values[2])
