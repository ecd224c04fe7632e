"""Studio users, their sessions and login attempts, and API keys for other services."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import EmailStr
from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from app.api_types import EMAIL_SCHEMA, BodyBool
from app.db import JsonType, utcnow


class Role(StrEnum):
    admin = "admin"
    editor = "editor"
    approver = "approver"
    viewer = "viewer"


class Scope(StrEnum):
    news_write = "news:write"
    subscribers_read = "subscribers:read"
    subscribers_write = "subscribers:write"
    issues_read = "issues:read"
    stats_read = "stats:read"
    admin = "admin"


class User(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True)
    name: str = Field(default="", max_length=200)
    role: str = Field(max_length=20)
    password_hash: str = Field(max_length=200, repr=False)
    is_active: bool = True
    created_at: datetime = Field(default_factory=utcnow)
    password_changed_at: datetime = Field(default_factory=utcnow)


class UserSession(SQLModel, table=True):
    __tablename__ = "user_session"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    # Only the SHA-256 of the cookie value is stored: a database dump opens no session.
    token_hash: str = Field(max_length=64, unique=True, repr=False)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    client_address: str = Field(default="", max_length=64)


class LoginAttempt(SQLModel, table=True):
    __tablename__ = "login_attempt"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, index=True)
    client_address: str = Field(max_length=64)
    attempted_at: datetime = Field(default_factory=utcnow, index=True)


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    # The first characters of the key, to recognise it in lists; never enough to use it.
    display_prefix: str = Field(max_length=20)
    key_hash: str = Field(max_length=64, unique=True, repr=False)
    scopes: list[str] = Field(default_factory=list, sa_column=Column(JsonType, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str = Field(default="", max_length=200)
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class ApiKeyCreate(SQLModel):
    name: str = Field(min_length=1, max_length=200)
    scopes: list[Scope] = Field(min_length=1)


class ApiKeyPublic(SQLModel):
    id: int
    name: str
    display_prefix: str
    scopes: list[str]
    created_at: datetime
    created_by: str
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="The secret; shown once, store it now.")


class UserCreate(SQLModel):
    email: Annotated[EmailStr, Field(schema_extra={"json_schema_extra": EMAIL_SCHEMA})]
    name: str = Field(default="", max_length=200)
    role: Role


class UserUpdate(SQLModel):
    """What an admin changes about a user; an absent (or null) field stays as it is."""

    role: Role | None = None
    is_active: BodyBool | None = None


class UserPublic(SQLModel):
    id: int
    email: str
    name: str
    role: str
    is_active: bool
    created_at: datetime
