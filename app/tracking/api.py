"""The installation's privacy mode for engagement tracking (read by staff, set by admins)."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import ConfigDict
from sqlmodel import Field, SQLModel

from app.accounts.principal import Principal
from app.api_types import NOT_BLANK
from app.deps import SessionDep, require_scope
from app.tracking import service as tracking
from app.tracking.models import PrivacyMode

router = APIRouter(prefix="/api/v1/settings", tags=["tracking"])


class PrivacyUpdate(SQLModel):
    # individual needs a legal basis other than white space (tracking.change_privacy).
    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"mode": {"const": PrivacyMode.individual.value}}},
            "then": {
                "properties": {"legal_basis": {"pattern": NOT_BLANK}},
                "required": ["legal_basis"],
            },
        }
    )

    mode: PrivacyMode
    legal_basis: str = Field(
        default="", max_length=5000, description="Required for `individual`: e.g. the agreement"
    )


class PrivacyPublic(SQLModel):
    mode: PrivacyMode
    legal_basis: str
    changed_by: str
    changed_at: datetime | None


@router.get("/privacy", response_model=PrivacyPublic)
def get_privacy(session: SessionDep, _: Annotated[Principal, require_scope("stats:read")]):
    """`aggregate` (default), `individual` or `off`; see docs/engagement.md."""
    return tracking.privacy_setting(session)


@router.put("/privacy", response_model=PrivacyPublic)
def put_privacy(
    data: PrivacyUpdate,
    request: Request,
    session: SessionDep,
    actor: Annotated[Principal, require_scope("admin")],
):
    """Switch the mode (audited). `individual` needs a legal basis, else 422."""
    setting = tracking.change_privacy(
        session, mode=data.mode, legal_basis=data.legal_basis, actor=actor
    )
    # This process renders and records with the new mode at once; others within seconds.
    request.app.state.renderer.forget_privacy_mode()
    request.app.state.recorder.mode = data.mode
    return setting
