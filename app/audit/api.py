"""Reading the audit log: /api/v1/audit (admin scope)."""

from typing import Annotated

from fastapi import APIRouter, Query

from app.accounts.principal import Principal
from app.api_types import QueryId
from app.audit import service as audit
from app.audit.models import AuditEntryPublic
from app.deps import SessionDep, require_scope

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get("", response_model=list[AuditEntryPublic])
def list_audit_entries(
    session: SessionDep,
    _: Annotated[Principal, require_scope("admin")],
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before_id: QueryId | None = None,
    action: Annotated[str | None, Query(max_length=80)] = None,
):
    """Newest first; page with ?before_id= the last id you saw."""
    return audit.list_entries(session, limit=limit, before_id=before_id, action=action)
