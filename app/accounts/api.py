"""JSON API for API keys and users (admin scope): /api/v1/api-keys, /api/v1/users."""

from typing import Annotated

from fastapi import APIRouter, status

from app.accounts import service as accounts
from app.accounts.models import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic, UserCreate, UserPublic
from app.accounts.principal import Principal
from app.deps import SessionDep, require_scope

router = APIRouter(prefix="/api/v1", tags=["accounts"])
Admin = Annotated[Principal, require_scope("admin")]


@router.get("/api-keys", response_model=list[ApiKeyPublic])
def list_api_keys(session: SessionDep, _: Admin):
    return accounts.list_api_keys(session)


@router.post("/api-keys", response_model=ApiKeyCreated, status_code=status.HTTP_201_CREATED)
def create_api_key(data: ApiKeyCreate, session: SessionDep, actor: Admin):
    """Create a key; the `key` field of the answer is its only appearance."""
    key, secret = accounts.create_api_key(session, data=data, actor=actor)
    return ApiKeyCreated(**ApiKeyPublic.model_validate(key).model_dump(), key=secret)


@router.delete("/api-keys/{key_id}", response_model=ApiKeyPublic)
def revoke_api_key(key_id: int, session: SessionDep, actor: Admin):
    """Revoke a key (kept, marked revoked, for the audit trail)."""
    return accounts.revoke_api_key(session, key_id=key_id, actor=actor)


class UserCreated(UserPublic):
    password: str


@router.post("/users", response_model=UserCreated, status_code=status.HTTP_201_CREATED)
def create_user(data: UserCreate, session: SessionDep, actor: Admin):
    """Create a studio user with a generated password, shown once."""
    password = accounts.generate_password()
    user = accounts.create_user(
        session, email=data.email, role=data.role, name=data.name, password=password, actor=actor
    )
    return UserCreated(**UserPublic.model_validate(user).model_dump(), password=password)
