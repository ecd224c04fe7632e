"""The privacy mode in the studio: everyone who reads reports sees what is recorded about
readers; only an admin switches it, and individual tracking needs its legal basis."""

from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, Response

from app.deps import SessionDep, StudioUser
from app.errors import Invalid
from app.tracking import service as tracking
from app.tracking.models import PrivacyMode
from app.web.pages import require, studio_router
from app.web.templating import redirect, render

router = studio_router()
MODES = {
    PrivacyMode.aggregate: "Counts per issue, segment and excerpt; nothing links an open or "
    "a click to a person.",
    PrivacyMode.individual: "Opens and clicks per subscriber. Only with a recorded legal "
    "basis, such as the works-council agreement.",
    PrivacyMode.off: "No open pixel and no click redirects: nothing about reading is recorded.",
}


@router.get("/settings/privacy", response_class=HTMLResponse)
def privacy_page(request: Request, session: SessionDep, ctx: StudioUser):
    require(ctx, "stats:read", "see the privacy mode")
    return _page(request, ctx, setting=tracking.privacy_setting(session))


@router.post("/settings/privacy", response_class=HTMLResponse)
def change_privacy(
    request: Request,
    session: SessionDep,
    ctx: StudioUser,
    mode: Annotated[PrivacyMode, Form()],
    legal_basis: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    require(ctx, "admin", "change the privacy mode")
    try:
        tracking.change_privacy(session, mode=mode, legal_basis=legal_basis, actor=ctx.principal)
    except Invalid as exc:
        setting = tracking.privacy_setting(session)
        errors = {e["field"]: e["reason"] for e in exc.errors}
        form = {"mode": mode, "legal_basis": legal_basis}
        return _page(request, ctx, setting=setting, errors=errors, form=form, status_code=422)
    # This process renders and records with the new mode at once; others within seconds.
    request.app.state.renderer.forget_privacy_mode()
    request.app.state.recorder.mode = mode
    return redirect(request, "/studio/settings/privacy")


def _page(request, ctx, *, setting, errors=None, form=None, status_code=200) -> HTMLResponse:
    return render(
        request,
        "tracking/privacy.html",
        {
            "user": ctx.user,
            "setting": setting,
            "modes": MODES,
            "errors": errors or {},
            "form": form or {"mode": setting.mode, "legal_basis": setting.legal_basis},
        },
        status_code=status_code,
    )
