"""The public feedback form: no sign-in, so no session to hang a CSRF cookie on.

A POST must carry a form token this server signed (with when it served the form) and must
not come from another site (Origin, Sec-Fetch-Site); each address may post a few times a
minute. Mistakes bring the form back with the reason beside each field.
"""

import time
from collections.abc import Mapping

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from app.db import unit_of_work
from app.deps import SessionDep, client_address
from app.errors import Forbidden
from app.feedback import service as feedback
from app.feedback.models import FeedbackKind
from app.news import ratelimit
from app.tracking.tokens import Purpose
from app.web.templating import same_origin, templates

router = APIRouter(include_in_schema=False)
FORM_MAX_AGE_SECONDS = 24 * 3600
POSTS_PER_MINUTE = 10
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _not_cross_site(request: Request) -> None:
    # Browsers name the site a form was posted from; another site's page may not post here.
    if not same_origin(request) or request.headers.get("sec-fetch-site") == "cross-site":
        raise Forbidden("this form can only be sent from its own page")


def _within_rate(request: Request) -> None:
    # Counted in a transaction of its own, so a refused post still counts.
    with unit_of_work(request.app.state.engine) as counter:
        ratelimit.hit(
            counter, key=f"feedback.post:{client_address(request)}", limit=POSTS_PER_MINUTE
        )


def _form_token(request: Request) -> str:
    return request.app.state.renderer.signer.make(Purpose.feedback_form, int(time.time()))


def _token_is_fresh(request: Request, token: object) -> bool:
    if not isinstance(token, str):
        return False
    values = request.app.state.renderer.signer.read(Purpose.feedback_form, token, count=1)
    return values is not None and -60 <= time.time() - values[0] <= FORM_MAX_AGE_SECONDS


def _form_page(
    request: Request,
    *,
    values: Mapping[str, object],
    errors: dict[str, str] | None = None,
    notice: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    shown = {k: v for k, v in values.items() if isinstance(v, str) and k in feedback.FORM_FIELDS}
    return templates.TemplateResponse(
        request,
        "public/feedback_form.html",
        {
            "values": shown,
            "errors": errors or {},
            "notice": notice,
            "kinds": list(FeedbackKind),
            "form_token": _form_token(request),
        },
        status_code=status_code,
        headers=PAGE_HEADERS,
    )


@router.get("/feedback", response_class=HTMLResponse)
def feedback_form(request: Request, kind: str = ""):
    """The empty form; ?kind=idea preselects a kind."""
    known = kind in {k.value for k in FeedbackKind}
    return _form_page(request, values={"kind": kind if known else ""})


@router.post(
    "/feedback",
    response_class=HTMLResponse,
    dependencies=[Depends(_not_cross_site), Depends(_within_rate)],
)
async def send_feedback(request: Request, session: SessionDep):
    posted = await request.form()
    if not _token_is_fresh(request, posted.get("form_token")):
        notice = "This form was open too long or did not come from this site; please send again."
        return _form_page(request, values=posted, notice=notice, status_code=403)
    try:
        form = feedback.read_form(posted)
    except feedback.InvalidFeedback as exc:
        return _form_page(request, values=posted, errors=exc.by_field, status_code=422)
    feedback.submit(session, form=form)
    # Post, then redirect: reloading the thank-you page does not send the form twice.
    return RedirectResponse("/feedback/thanks", status_code=303, headers=PAGE_HEADERS)


@router.get("/feedback/thanks", response_class=HTMLResponse)
def feedback_thanks(request: Request):
    return templates.TemplateResponse(
        request, "public/feedback_thanks.html", {}, headers=PAGE_HEADERS
    )
