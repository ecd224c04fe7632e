"""Subscribers: the people who receive the bulletin, with free key/value attributes."""

import re
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import field_validator
from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from app.api_types import EmailText
from app.db import JsonType, utcnow


class SubscriberStatus(StrEnum):
    active = "active"
    unsubscribed = "unsubscribed"
    bounced = "bounced"
    blocked = "blocked"


MAX_ATTRIBUTES = 50
MAX_NAME_LENGTH = 200
MAX_ATTRIBUTE_KEY = 64
MAX_ATTRIBUTE_VALUE = 500
# Names become JSON paths on SQLite, where these characters never match or break the query.
UNUSABLE_IN_NAMES = re.compile(r'["\\\x00-\x1f\x7f]')


def attribute_name(raw: str) -> str:
    """A valid attribute name, stripped; ValueError with the reason otherwise."""
    key = raw.strip()
    if not key or len(key) > MAX_ATTRIBUTE_KEY:
        raise ValueError(f"attribute names are 1-{MAX_ATTRIBUTE_KEY} characters")
    if UNUSABLE_IN_NAMES.search(key):
        raise ValueError(f"attribute name {key!r} contains a quote, backslash or control character")
    return key


def clean_attributes(value: dict[str, object] | None) -> dict[str, str]:
    """Attributes are flat strings: segments compare them as text on every database."""
    if value is None:
        return {}
    if len(value) > MAX_ATTRIBUTES:
        raise ValueError(f"at most {MAX_ATTRIBUTES} attributes")
    cleaned: dict[str, str] = {}
    for name, raw in value.items():
        key = attribute_name(name)
        if isinstance(raw, bool):
            raw = "true" if raw else "false"
        if not isinstance(raw, str | int | float):
            raise ValueError(f"attribute {key!r} must be a string or number")
        text = str(raw).strip()
        if len(text) > MAX_ATTRIBUTE_VALUE:
            raise ValueError(f"attribute {key!r} is longer than {MAX_ATTRIBUTE_VALUE} characters")
        cleaned[key] = text
    return cleaned


class Subscriber(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    # Stored normalized and lower-cased, so uniqueness is case-insensitive on every database.
    email: str = Field(max_length=320, unique=True)
    name: str = Field(default="", max_length=MAX_NAME_LENGTH)
    attributes: dict[str, str] = Field(
        default_factory=dict, sa_column=Column(JsonType, nullable=False)
    )
    status: str = Field(default=SubscriberStatus.active, max_length=20, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    # Bumped by every change, the ORM's included (onupdate): segment counts are remembered
    # against max(updated_at) and recounted when it moves (app/segments/counts.py).
    updated_at: datetime = Field(
        default_factory=utcnow, index=True, sa_column_kwargs={"onupdate": utcnow}
    )
    status_changed_at: datetime | None = None


# What clean_attributes takes, for the document: at most 50 names of 1-64 characters (after
# strip) without quote, backslash or control character; values text, number or true/false.
ATTRIBUTE_NAME_PATTERN = (
    r'^\s*[^"\\\x00-\x1f\x7f\s](?:[^"\\\x00-\x1f\x7f]{0,62}[^"\\\x00-\x1f\x7f\s])?\s*$'
)
# A filter `key:value` (GET /subscribers?attribute=): a valid name before the first colon.
ATTRIBUTE_FILTER_PATTERN = (
    r'^\s*[^"\\\x00-\x1f\x7f\s:](?:[^"\\\x00-\x1f\x7f:]{0,62}[^"\\\x00-\x1f\x7f\s:])?\s*:'
    r"[^\x00]*$"  # the value: any text but NUL
)
ATTRIBUTE_VALUE = {"anyOf": [{"type": "string", "maxLength": MAX_ATTRIBUTE_VALUE},
                             {"type": "number"}, {"type": "boolean"}]}  # fmt: skip


def _attributes_schema(*, null_removes: bool) -> dict[str, Any]:
    value = ATTRIBUTE_VALUE["anyOf"] + ([{"type": "null"}] if null_removes else [])
    return {
        "maxProperties": MAX_ATTRIBUTES,
        "propertyNames": {"pattern": ATTRIBUTE_NAME_PATTERN},
        "additionalProperties": {"anyOf": value},
    }


class SubscriberFields(SQLModel):
    name: str = Field(default="", max_length=MAX_NAME_LENGTH)
    attributes: dict[str, Any] = Field(
        default_factory=dict,
        schema_extra={"json_schema_extra": _attributes_schema(null_removes=False)},
    )
    status: SubscriberStatus = SubscriberStatus.active

    @field_validator("attributes")
    @classmethod
    def _clean_attributes(cls, value: dict[str, object]) -> dict[str, str]:
        return clean_attributes(value)


class SubscriberCreate(SubscriberFields):
    email: EmailText


class SubscriberUpdate(SQLModel):
    email: EmailText | None = None
    name: str | None = Field(default=None, max_length=MAX_NAME_LENGTH)
    # Merged into the stored attributes; a key set to null is removed.
    attributes: dict[str, Any] | None = Field(
        default=None, schema_extra={"json_schema_extra": _attributes_schema(null_removes=True)}
    )
    status: SubscriberStatus | None = None


class SubscriberPublic(SQLModel):
    id: int
    email: str
    name: str
    attributes: dict[str, str]
    status: str
    created_at: datetime
    updated_at: datetime


class SubscribersPage(SQLModel):
    items: list[SubscriberPublic]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null at the end."
    )
