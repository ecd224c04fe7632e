"""The segment rule language: structured JSON compiled to a SQL expression.

A rule is a group ``{"all": [...]}`` or ``{"any": [...]}`` of conditions and nested groups.
A condition is ``{"field": F, "op": OP, "value": V}`` where F is ``email``, ``name``,
``status`` or an attribute name (optionally written ``attributes.NAME``), and OP one of
eq, ne, in, not_in, contains, exists. Text comparisons ignore case. Values only ever reach
the database as bound parameters: no user text becomes SQL.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)
from sqlalchemy import ColumnElement, and_, false, func, not_, or_, true

from app.subscribers.models import Subscriber, SubscriberStatus, attribute_name

BUILTIN_FIELDS = ("email", "name", "status")
MAX_CONDITIONS = 100
MAX_DEPTH = 5
MAX_LIST_VALUES = 1000


class Op(StrEnum):
    eq = "eq"
    ne = "ne"
    in_ = "in"
    not_in = "not_in"
    contains = "contains"
    exists = "exists"


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str = Field(min_length=1, max_length=80)
    op: Op
    # validate_default: an omitted value must still be checked against the op.
    value: str | int | float | bool | list[str | int | float] | None = Field(
        default=None, validate_default=True
    )

    @field_validator("field")
    @classmethod
    def _field_is_usable(cls, field: str) -> str:
        if field in BUILTIN_FIELDS:
            return field
        # Same rule as for stored attribute names, or the condition could never match.
        return attribute_name(field.removeprefix("attributes."))

    @field_validator("op")
    @classmethod
    def _op_fits_field(cls, op: Op, info: ValidationInfo) -> Op:
        if info.data.get("field") == "status" and op in (Op.contains, Op.exists):
            raise ValueError("status supports eq, ne, in and not_in")
        return op

    @field_validator("value")
    @classmethod
    def _value_fits_op(cls, value: Any, info: ValidationInfo) -> Any:
        op = info.data.get("op")
        if op is None:  # the op itself was invalid and is reported on its own
            return value
        if op in (Op.in_, Op.not_in):
            if not isinstance(value, list) or not value:
                raise ValueError(f"op {op.value!r} needs a non-empty list as value")
            if len(value) > MAX_LIST_VALUES:
                raise ValueError(f"at most {MAX_LIST_VALUES} values in a list")
            value = [str(v) for v in value]
        elif op is Op.exists:
            if value is None:
                value = True
            if not isinstance(value, bool):
                raise ValueError("op 'exists' takes true or false as value")
        else:
            if value is None or isinstance(value, list | bool):
                raise ValueError(f"op {op.value!r} needs a single text value")
            value = str(value)
        if info.data.get("field") == "status":
            value = _known_statuses(value)
        return value


def _known_statuses(value: str | list[str]) -> str | list[str]:
    # Stored statuses are lower-case; like every text comparison, the rule ignores case.
    values = [v.lower() for v in value] if isinstance(value, list) else [value.lower()]
    known = {s.value for s in SubscriberStatus}
    unknown = [v for v in values if v not in known]
    if unknown:
        raise ValueError(f"unknown status {unknown[0]!r}; one of {sorted(known)}")
    return values if isinstance(value, list) else values[0]


class Group(BaseModel):
    model_config = ConfigDict(extra="forbid")

    all: list[Node] | None = Field(default=None, min_length=1)
    any: list[Node] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_combinator(self) -> Group:
        if (self.all is None) == (self.any is None):
            raise ValueError("a group has exactly one of 'all' or 'any'")
        return self

    @property
    def children(self) -> list[Condition | Group]:
        return self.all if self.all is not None else self.any or []


def _node_kind(node: Any) -> str:
    if isinstance(node, dict):
        return "group" if "all" in node or "any" in node else "condition"
    return "group" if isinstance(node, Group) else "condition"


# A tagged union rather than a plain one: an invalid condition then reports only its own
# errors (at e.g. rule.all.0.condition.op), not the errors of also failing to be a group.
Node = Annotated[
    Annotated[Condition, Tag("condition")] | Annotated[Group, Tag("group")],
    Discriminator(_node_kind),
]
Group.model_rebuild()
Rule = Group


def check_limits(rule: Rule) -> None:
    """Reject rules too large or deep to be a real audience (and to keep queries cheap)."""
    count = 0

    def walk(group: Group, depth: int) -> None:
        nonlocal count
        if depth > MAX_DEPTH:
            raise ValueError(f"rules nest at most {MAX_DEPTH} groups deep")
        for child in group.children:
            if isinstance(child, Group):
                walk(child, depth + 1)
            else:
                count += 1
        if count > MAX_CONDITIONS:
            raise ValueError(f"at most {MAX_CONDITIONS} conditions in a rule")

    walk(rule, 1)


def compile_rule(rule: Rule) -> ColumnElement[bool]:
    """The WHERE clause over `subscriber` that selects the rule's members."""
    parts = [
        compile_rule(c) if isinstance(c, Group) else _compile_condition(c) for c in rule.children
    ]
    if rule.all is not None:
        return and_(true(), *parts)
    return or_(false(), *parts)


def _compile_condition(cond: Condition) -> ColumnElement[bool]:
    if cond.field == "status":
        return _compile_status(cond)
    column = _text_column(cond.field)
    lowered = func.lower(column)
    missing = or_(column.is_(None), column == "")
    match cond.op:
        case Op.eq:
            return lowered == str(cond.value).lower()
        case Op.ne:
            return or_(missing, lowered != str(cond.value).lower())
        case Op.in_:
            return lowered.in_([v.lower() for v in cond.value])
        case Op.not_in:
            return or_(missing, lowered.not_in([v.lower() for v in cond.value]))
        case Op.contains:
            return lowered.contains(str(cond.value).lower(), autoescape=True)
        case Op.exists:
            return not_(missing) if cond.value else missing
    raise AssertionError(cond.op)


def _compile_status(cond: Condition) -> ColumnElement[bool]:
    column = Subscriber.status
    match cond.op:
        case Op.eq:
            return column == cond.value
        case Op.ne:
            return column != cond.value
        case Op.in_:
            return column.in_(cond.value)
        case Op.not_in:
            return column.not_in(cond.value)
    raise AssertionError(cond.op)


def _text_column(field: str) -> Any:
    if field in ("email", "name"):
        return getattr(Subscriber, field)
    key = field.removeprefix("attributes.")
    return Subscriber.attributes[key].as_string()
