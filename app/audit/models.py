"""The append-only audit log: who changed what, and when."""

from datetime import datetime
from typing import Any

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from app.db import JsonType, utcnow


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True)
    occurred_at: datetime = Field(default_factory=utcnow, index=True)
    actor_kind: str = Field(max_length=20)  # user, api_key, cli, system
    actor_id: int | None = None
    actor_label: str = Field(max_length=320)
    action: str = Field(max_length=80, index=True)
    object_type: str = Field(max_length=40)
    object_id: str = Field(default="", max_length=80)
    details: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JsonType, nullable=False)
    )


class AuditEntryPublic(SQLModel):
    id: int
    occurred_at: datetime
    actor_kind: str
    actor_id: int | None
    actor_label: str
    action: str
    object_type: str
    object_id: str
    details: dict[str, Any]
