"""JSON API for API keys and users (admin scope): /api/v1/api-keys, /api/v1/users."""

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, Field

from app.accounts import service as accounts
from app.accounts.models import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyPublic,
    UserCreate,
    UserPublic,
    UserUpdate,
)
from app.accounts.principal import Principal
from app.api_types import PathId
from app.db import utcnow
from app.deps import (
    NO_STORE,
    SessionDep,
    SettingsDep,
    bearer_token,
    client_address,
    require_scope,
)
from app.errors import Unauthorized, problem

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
def revoke_api_key(key_id: PathId, session: SessionDep, actor: Admin):
    """Revoke a key (kept, marked revoked, for the audit trail)."""
    return accounts.revoke_api_key(session, key_id=key_id, actor=actor)


class UserCreated(UserPublic):
    password: str


@router.get("/users", response_model=list[UserPublic])
def list_users(session: SessionDep, _: Admin):
    """Every studio user, active ones first, then by email."""
    return accounts.list_users(session)


@router.post("/users", response_model=UserCreated, status_code=status.HTTP_201_CREATED)
def create_user(data: UserCreate, session: SessionDep, actor: Admin, response: Response):
    """Create a studio user with a generated password, shown once."""
    password = accounts.generate_password()
    user = accounts.create_user(
        session, email=data.email, role=data.role, name=data.name, password=password, actor=actor
    )
    response.headers.update(NO_STORE)
    return UserCreated(**UserPublic.model_validate(user).model_dump(), password=password)


@router.get("/users/{user_id}", response_model=UserPublic)
def get_user(user_id: PathId, session: SessionDep, _: Admin):
    return accounts.get_user(session, user_id=user_id)


@router.patch("/users/{user_id}", response_model=UserPublic)
def update_user(user_id: PathId, data: UserUpdate, session: SessionDep, actor: Admin):
    """Change a user's role, or deactivate or reactivate them (history is kept). A changed
    role or a deactivation ends the user's sessions and tokens. The last active admin can be
    neither demoted nor deactivated, and nobody deactivates themselves (409)."""
    user = accounts.get_user(session, user_id=user_id)
    if data.role is not None:
        accounts.change_role(session, user=user, role=data.role, actor=actor, keep_session_id=None)
    if data.is_active is not None:
        accounts.set_active(session, user=user, is_active=data.is_active, actor=actor)
    return user


@router.post("/users/{user_id}/password", response_model=UserCreated)
def reset_password(user_id: PathId, session: SessionDep, actor: Admin, response: Response):
    """Give the user a new generated password, shown once; every session of theirs ends."""
    user = accounts.get_user(session, user_id=user_id)
    password = accounts.generate_password()
    accounts.reset_password(session, user=user, password=password, actor=actor)
    response.headers.update(NO_STORE)
    return UserCreated(**UserPublic.model_validate(user).model_dump(), password=password)


class TokenRequest(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1000)


class TokenIssued(BaseModel):
    token: str
    token_type: str = "bearer"  # noqa: S105  (the OAuth token type, not a secret)
    expires_at: datetime
    user: UserPublic


@router.post("/auth/token", response_model=TokenIssued, tags=["auth"])
def issue_token(data: TokenRequest, request: Request, session: SessionDep, settings: SettingsDep):
    """Sign in as a studio user; send the token as `Authorization: Bearer <token>`.

    Same throttle as the studio sign-in (429 with Retry-After)."""
    outcome = accounts.log_in(
        session,
        email=data.email,
        password=data.password,
        client_address=client_address(request),
        max_attempts=settings.login_attempts_per_minute,
        max_age_seconds=settings.session_max_age_seconds,
    )
    if outcome is None:
        # Returned, not raised: the failed attempt must commit so the throttle counts it.
        return problem(401, "Unauthorized", "email or password is not correct")
    user, token = outcome
    expires_at = utcnow() + timedelta(seconds=settings.session_max_age_seconds)
    return TokenIssued(token=token, expires_at=expires_at, user=UserPublic.model_validate(user))


@router.delete("/auth/token", status_code=status.HTTP_204_NO_CONTENT, tags=["auth"])
def revoke_token(request: Request, session: SessionDep) -> None:
    """Sign out: the token stops working at once."""
    token = bearer_token(request)
    if token.startswith(accounts.API_KEY_PREFIX):
        raise Unauthorized("API keys are revoked through /api/v1/api-keys")
    accounts.log_out(session, token=token)
