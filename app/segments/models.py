"""Segments (target groups): a rule over subscriber attributes and status, or a static list."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import ConfigDict, WithJsonSchema
from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from app.api_types import NOT_BLANK, documented_pattern
from app.db import JsonType, utcnow
from app.segments.rules import MAX_CONDITIONS, MAX_DEPTH, MAX_LIST_VALUES, Rule
from app.subscribers.models import ATTRIBUTE_NAME_PATTERN, SubscriberStatus


class SegmentKind(StrEnum):
    rule = "rule"
    static = "static"


class Segment(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120, unique=True)
    description: str = Field(default="", max_length=1000)
    kind: str = Field(default=SegmentKind.rule, max_length=10)
    # The rule as the client sent it (validated); compiled to SQL on every use.
    rule: dict[str, Any] | None = Field(default=None, sa_column=Column(JsonType, nullable=True))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class SegmentMember(SQLModel, table=True):
    """Membership of a static segment."""

    __tablename__ = "segment_member"

    segment_id: int = Field(foreign_key="segment.id", primary_key=True, ondelete="CASCADE")
    subscriber_id: int = Field(
        foreign_key="subscriber.id", primary_key=True, index=True, ondelete="CASCADE"
    )
    added_at: datetime = Field(default_factory=utcnow)


# --- The rule language in the OpenAPI document -------------------------------------------
# pydantic's schema of Rule is recursive and says nothing of which value fits which op; this
# one states what app/segments/rules.py accepts: groups nested at most MAX_DEPTH deep, with
# exactly one of `all`/`any`; a condition's value fitting its op; status values known (in any
# case). Only the total of MAX_CONDITIONS conditions in a rule stays unexpressed (a 422).
_STATUS_VALUE = {
    "type": "string",
    # Case-insensitively one of the statuses: [Aa][Cc]... (JSON Schema has no flags).
    "pattern": "^(?:"
    + "|".join("".join(f"[{c.upper()}{c}]" for c in s.value) for s in SubscriberStatus)
    + ")$",
}
_SCALAR = {"anyOf": [{"type": "string"}, {"type": "number"}]}
_ATTRIBUTE_FIELD = {
    "type": "string",
    "maxLength": 80,
    # An attribute name as stored, optionally written attributes.NAME; not the builtin status.
    "pattern": r"^(?:attributes\.)?" + ATTRIBUTE_NAME_PATTERN.removeprefix("^"),
    "not": {"anyOf": [{"const": "status"}, {"pattern": r"^attributes\.\s*$"}]},
}


def _list_of(item: dict) -> dict:
    return {"type": "array", "items": item, "minItems": 1, "maxItems": MAX_LIST_VALUES}


def _condition(field: dict, op: list[str], value: dict, *, value_required: bool = True) -> dict:
    return {
        "type": "object",
        "properties": {"field": field, "op": {"enum": op}, "value": value},
        "required": ["field", "op", "value"] if value_required else ["field", "op"],
        "additionalProperties": False,
    }


_STATUS_FIELD = {"const": "status"}
_OTHER_FIELD = {"anyOf": [{"enum": ["email", "name"]}, _ATTRIBUTE_FIELD]}
CONDITION_SCHEMA = {
    "title": "Condition",
    "oneOf": [
        _condition(_STATUS_FIELD, ["eq", "ne"], _STATUS_VALUE),
        _condition(_STATUS_FIELD, ["in", "not_in"], _list_of(_STATUS_VALUE)),
        _condition(_OTHER_FIELD, ["eq", "ne", "contains"], _SCALAR),
        _condition(_OTHER_FIELD, ["in", "not_in"], _list_of(_SCALAR)),
        _condition(_OTHER_FIELD, ["exists"], {"type": ["boolean", "null"]}, value_required=False),
    ],
}


def _group_schema(depth: int = 1) -> dict:
    node = CONDITION_SCHEMA
    if depth < MAX_DEPTH:
        node = {"anyOf": [CONDITION_SCHEMA, _group_schema(depth + 1)]}
    children = {"type": "array", "items": node, "minItems": 1, "maxItems": MAX_CONDITIONS}
    return {
        "title": "Group",
        "type": "object",
        "properties": {"all": {}, "any": {}},
        "additionalProperties": False,
        "oneOf": [
            {"properties": {"all": children, "any": {"type": "null"}}, "required": ["all"]},
            {"properties": {"any": children, "all": {"type": "null"}}, "required": ["any"]},
        ],
    }


RULE_SCHEMA = {
    **_group_schema(),
    "title": "Rule",
    "description": "A group {all: [...]} or {any: [...]} of conditions and nested groups",
}
DocumentedRule = Annotated[Rule, WithJsonSchema(RULE_SCHEMA)]
# A segment's name: some text besides white space (it is stored stripped).
SegmentName = Annotated[str, Field(min_length=1, max_length=120), documented_pattern(NOT_BLANK)]


class SegmentCreate(SQLModel):
    model_config = ConfigDict(
        json_schema_extra={
            # A rule segment (the default kind) needs a rule; a static one has none.
            "anyOf": [
                {"properties": {"kind": {"const": "static"}, "rule": {"type": "null"}},
                 "required": ["kind"]},
                {"properties": {"kind": {"const": "rule"}, "rule": {"type": "object"}},
                 "required": ["rule"]},
            ]
        }
    )  # fmt: skip

    name: SegmentName
    description: str = Field(default="", max_length=1000)
    kind: SegmentKind = SegmentKind.rule
    rule: DocumentedRule | None = None


class SegmentUpdate(SQLModel):
    name: SegmentName | None = None
    description: str | None = Field(default=None, max_length=1000)
    rule: DocumentedRule | None = None


class SegmentPublic(SQLModel):
    id: int
    name: str
    description: str
    kind: str
    rule: dict[str, Any] | None
    member_count: int = Field(description="Subscribers the segment selects, any status.")
    active_count: int = Field(description="Of those, the active ones: who would receive a send.")
    created_at: datetime
    updated_at: datetime


class SegmentCount(SQLModel):
    member_count: int
    active_count: int


class StaticMembersChange(SQLModel):
    emails: list[str] = Field(min_length=1, max_length=10_000)
