"""The admin's settings page: who may use the studio and which keys may call the API.

Read-only for now: users are made with `drumbeat user create`, keys through the API.
"""

from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from app.accounts import service as accounts
from app.accounts.models import User
from app.deps import SessionDep, StudioUser
from app.web.pages import require, studio_router
from app.web.templating import render

router = studio_router()


@router.get("/settings", response_class=HTMLResponse)
def settings_page(request: Request, session: SessionDep, ctx: StudioUser):
    require(ctx, "admin", "open the settings")
    users = list(session.scalars(select(User).order_by(User.email)))
    return render(
        request,
        "studio/settings.html",
        {"user": ctx.user, "users": users, "api_keys": accounts.list_api_keys(session)},
    )
