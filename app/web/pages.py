"""What every studio router shares: the /studio prefix, CSRF on unsafe requests, and the
permission check a view makes before it acts."""

from fastapi import APIRouter

from app.deps import CsrfChecked, StudioContext
from app.errors import Forbidden


def studio_router() -> APIRouter:
    """A router whose every POST, PUT, PATCH and DELETE carries a valid CSRF token and no
    foreign Origin (GETs pass: they change nothing)."""
    return APIRouter(prefix="/studio", include_in_schema=False, dependencies=CsrfChecked)


def require(ctx: StudioContext, scope: str, doing: str) -> None:
    """403 unless the signed-in role holds `scope`; templates hide what this refuses."""
    if not ctx.principal.allows(scope):
        raise Forbidden(f"your role ({ctx.user.role}) may not {doing}")


def require_any(ctx: StudioContext, scopes: tuple[str, ...], doing: str) -> None:
    if not any(ctx.principal.allows(s) for s in scopes):
        raise Forbidden(f"your role ({ctx.user.role}) may not {doing}")
