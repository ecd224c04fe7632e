"""Studio pages for segments: the list with their counts (remembered until subscribers or the
rule change, app/segments/counts.py), and a rule builder that counts the members as you type
(segments.count, as the API's preview)."""

from typing import Annotated, Any

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlmodel import Session

from app.deps import SessionDep, StudioUser
from app.errors import DomainError
from app.segments import service as segments
from app.segments.counts import segment_counts
from app.segments.models import Segment, SegmentCreate, SegmentUpdate
from app.segments.rules import BUILTIN_FIELDS, Op, Rule, compile_rule
from app.subscribers.models import Subscriber
from app.web.pages import require, studio_router
from app.web.templating import redirect, render

router = studio_router()
READ, WRITE = "subscribers:read", "subscribers:write"
OP_LABELS = {
    Op.eq: "is", Op.ne: "is not", Op.in_: "is one of", Op.not_in: "is none of",
    Op.contains: "contains", Op.exists: "is set",
}  # fmt: skip
LIST_OPS = (Op.in_, Op.not_in)
MAX_ROWS = 50
Rows = Annotated[list[str], Query(max_length=MAX_ROWS)]
FormRows = Annotated[list[str], Form(max_length=MAX_ROWS)]


@router.get("/segments", response_class=HTMLResponse)
def segment_list(request: Request, session: SessionDep, ctx: StudioUser):
    require(ctx, READ, "read segments")
    listed = segments.list_all(session)
    counted = segment_counts(session, segments=listed)
    return render(
        request,
        "segments/list.html",
        {
            "user": ctx.user,
            "segments": [(s, counted[s.id]) for s in listed],
            "counted_at": min((c.counted_at for c in counted.values()), default=None),
        },
    )


@router.get("/segments/new", response_class=HTMLResponse)
def new_segment(request: Request, session: SessionDep, ctx: StudioUser):
    require(ctx, WRITE, "create segments")
    form = {"name": "", "description": "", "match": "all",
            "conditions": [{"field": "", "op": "eq", "value": ""}]}  # fmt: skip
    return _builder(request, session, ctx, form=form, segment=None, errors={})


@router.get("/segments/count", response_class=HTMLResponse)
def live_count(
    request: Request,
    session: SessionDep,
    ctx: StudioUser,
    match: Annotated[str, Query(max_length=3)] = "all",
    field: Rows = [],  # noqa: B006
    op: Rows = [],  # noqa: B006
    value: Rows = [],  # noqa: B006
):
    """Who the rule being built selects right now (the builder asks as you type)."""
    require(ctx, READ, "count segments")
    rule, error = _rule_from(match, field, op, value)
    counts = None
    if rule is not None:
        try:
            counts = segments.count(session, clause=compile_rule(segments.validated_rule(rule)))
        except DomainError as exc:
            error = exc.detail
    return render(request, "segments/_count.html", {"counts": counts, "error": error})


@router.get("/segments/condition", response_class=HTMLResponse)
def condition_row(request: Request, ctx: StudioUser):
    """One more empty condition for the builder."""
    require(ctx, READ, "build segments")
    response = render(
        request,
        "segments/_condition.html",
        {"condition": {"field": "", "op": "eq", "value": ""}, "ops": OP_LABELS},
    )
    response.headers["HX-Trigger"] = "conditions-changed"  # the count follows
    return response


@router.post("/segments/new", response_class=HTMLResponse)
def create_segment(
    request: Request,
    session: SessionDep,
    ctx: StudioUser,
    name: Annotated[str, Form(max_length=500)] = "",
    description: Annotated[str, Form(max_length=2000)] = "",
    match: Annotated[str, Form(max_length=3)] = "all",
    field: FormRows = [],  # noqa: B006
    op: FormRows = [],  # noqa: B006
    value: FormRows = [],  # noqa: B006
) -> Response:
    require(ctx, WRITE, "create segments")
    form = _form_values(name, description, match, field, op, value)
    rule, error = _rule_from(match, field, op, value)
    if rule is None:
        return _builder(request, session, ctx, form=form, segment=None,
                        errors={"rule": error}, status_code=422)  # fmt: skip
    try:
        data = SegmentCreate(name=name, description=description, rule=rule)
        segments.create(session, data=data, actor=ctx.principal)
    except (DomainError, ValidationError) as exc:
        return _builder(request, session, ctx, form=form, segment=None,
                        errors=_errors(exc), status_code=_status(exc))  # fmt: skip
    return redirect(request, "/studio/segments")


@router.get("/segments/{segment_id}", response_class=HTMLResponse)
def edit_segment(request: Request, segment_id: int, session: SessionDep, ctx: StudioUser):
    require(ctx, READ, "read segments")
    segment = segments.get(session, segment_id=segment_id)
    return _builder(request, session, ctx, form=_form_of(segment), segment=segment, errors={})


@router.post("/segments/{segment_id}", response_class=HTMLResponse)
def update_segment(
    request: Request,
    segment_id: int,
    session: SessionDep,
    ctx: StudioUser,
    name: Annotated[str, Form(max_length=500)] = "",
    description: Annotated[str, Form(max_length=2000)] = "",
    match: Annotated[str, Form(max_length=3)] = "all",
    field: FormRows = [],  # noqa: B006
    op: FormRows = [],  # noqa: B006
    value: FormRows = [],  # noqa: B006
) -> Response:
    require(ctx, WRITE, "change segments")
    segment = segments.get(session, segment_id=segment_id)
    # A static list has no rule; a rule with nested groups is not shown as rows, so the
    # builder leaves it alone (the API edits those).
    keeps_rule = segment.kind == "static" or _form_of(segment)["nested"]
    rule, error = (None, None) if keeps_rule else _rule_from(match, field, op, value)
    form = (
        {**_form_of(segment), "name": name, "description": description}
        if keeps_rule
        else _form_values(name, description, match, field, op, value)
    )
    if error:
        return _builder(request, session, ctx, form=form, segment=segment,
                        errors={"rule": error}, status_code=422)  # fmt: skip
    try:
        changes = {"name": name, "description": description}
        data = SegmentUpdate(**changes, **({"rule": rule} if rule is not None else {}))
        segments.update(session, segment=segment, data=data, actor=ctx.principal)
    except (DomainError, ValidationError) as exc:
        return _builder(request, session, ctx, form=form, segment=segment,
                        errors=_errors(exc), status_code=_status(exc))  # fmt: skip
    return redirect(request, "/studio/segments")


def _rule_from(
    match: str, fields: list[str], ops: list[str], values: list[str]
) -> tuple[Rule | None, str | None]:
    """The rule the builder's rows describe (blank rows ignored), or why it is incomplete."""
    conditions: list[dict[str, Any]] = []
    for index, (field, op, value) in enumerate(zip(fields, ops, values, strict=False), start=1):
        if not field.strip():
            continue
        condition: dict[str, Any] = {"field": field.strip(), "op": op}
        if op in LIST_OPS:
            condition["value"] = [v.strip() for v in value.split(",") if v.strip()]
        elif op != Op.exists:
            condition["value"] = value
        conditions.append(condition)
        if op not in OP_LABELS:
            return None, f"condition {index}: choose an operator"
    if not conditions:
        return None, "add a condition: pick an attribute, an operator and a value"
    try:
        return Rule.model_validate({"any" if match == "any" else "all": conditions}), None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = next((p for p in first["loc"] if isinstance(p, int)), None)
        prefix = f"condition {where + 1}: " if where is not None else ""
        return None, prefix + first["msg"].removeprefix("Value error, ")


def _form_values(name, description, match, fields, ops, values) -> dict[str, Any]:
    rows = [{"field": f, "op": o, "value": v} for f, o, v in zip(fields, ops, values, strict=False)]
    return {"name": name, "description": description, "match": match,
            "conditions": rows or [{"field": "", "op": "eq", "value": ""}]}  # fmt: skip


def _form_of(segment: Segment) -> dict[str, Any]:
    """The builder's rows of a stored rule (`nested`: it has groups the rows cannot show)."""
    rule = segment.rule or {}
    match = "any" if "any" in rule else "all"
    rows = []
    for node in rule.get(match, []):
        if "field" in node:
            value = node.get("value")
            text = ", ".join(map(str, value)) if isinstance(value, list) else value
            rows.append(
                {
                    "field": node["field"],
                    "op": node["op"],
                    "value": "" if text is None or isinstance(text, bool) else str(text),
                }
            )
    return {"name": segment.name, "description": segment.description, "match": match,
            "conditions": rows or [{"field": "", "op": "eq", "value": ""}],
            "nested": any("field" not in n for n in rule.get(match, []))}  # fmt: skip


def _builder(request, session, ctx, *, form, segment, errors, status_code: int = 200):
    return render(
        request,
        "segments/builder.html",
        {
            "user": ctx.user,
            "form": form,
            "segment": segment,
            "errors": errors,
            "ops": OP_LABELS,
            "attribute_names": _attribute_names(session),
        },
        status_code=status_code,
    )


def _attribute_names(session: Session) -> list[str]:
    """Attribute names seen on a sample of subscribers, for the field picker's suggestions."""
    names: set[str] = set()
    for attributes in session.scalars(select(Subscriber.attributes).limit(2000)):
        names.update(attributes)
    return [*BUILTIN_FIELDS, *sorted(names)]


def _errors(exc: Exception) -> dict[str, str]:
    if isinstance(exc, ValidationError):
        return {str(e["loc"][0]): e["msg"] for e in exc.errors()}
    errors = {e["field"]: e["reason"] for e in getattr(exc, "errors", [])}
    return errors or {"name": exc.detail}


def _status(exc: Exception) -> int:
    return exc.status if isinstance(exc, DomainError) else 422
