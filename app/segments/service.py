"""Segments: create and change them, count and preview their members live."""

from sqlalchemy import ColumnElement, case, func, select
from sqlmodel import Session

from app.accounts.principal import Principal
from app.audit.service import record
from app.db import utcnow
from app.errors import Conflict, Invalid, NotFound
from app.segments.models import (
    Segment,
    SegmentCount,
    SegmentCreate,
    SegmentKind,
    SegmentMember,
    SegmentUpdate,
)
from app.segments.rules import Rule, check_limits, compile_rule
from app.subscribers.models import Subscriber, SubscriberStatus
from app.subscribers.normalize import normalize_email


def get(session: Session, *, segment_id: int) -> Segment:
    """Load a segment or raise NotFound."""
    segment = session.get(Segment, segment_id)
    if segment is None:
        raise NotFound(f"segment {segment_id} does not exist")
    return segment


def list_all(session: Session) -> list[Segment]:
    """Every segment, by name."""
    return list(session.scalars(select(Segment).order_by(Segment.name)))


def membership_clause(segment: Segment) -> ColumnElement[bool]:
    """The WHERE clause over `subscriber` that selects this segment's members."""
    if segment.kind == SegmentKind.static:
        members = select(SegmentMember.subscriber_id).where(SegmentMember.segment_id == segment.id)
        return Subscriber.id.in_(members)
    return compile_rule(Rule.model_validate(segment.rule))


def count(session: Session, *, clause: ColumnElement[bool]) -> SegmentCount:
    """Members and active members in one query."""
    is_active = case((Subscriber.status == SubscriberStatus.active, 1), else_=0)
    row = session.execute(
        select(func.count(), func.coalesce(func.sum(is_active), 0))
        .select_from(Subscriber)
        .where(clause)
    ).one()
    return SegmentCount(member_count=row[0], active_count=row[1])


def preview_members(
    session: Session, *, clause: ColumnElement[bool], limit: int = 20
) -> list[Subscriber]:
    """A first look at who a rule selects, by email."""
    query = select(Subscriber).where(clause).order_by(Subscriber.email).limit(limit)
    return list(session.scalars(query))


def validated_rule(rule: Rule) -> Rule:
    try:
        check_limits(rule)
    except ValueError as exc:
        raise Invalid("rule", str(exc)) from exc
    return rule


def create(session: Session, *, data: SegmentCreate, actor: Principal) -> Segment:
    """A rule segment needs a rule; a static one starts empty and takes members by email."""
    if data.kind == SegmentKind.rule and data.rule is None:
        raise Invalid("rule", "a rule segment needs a rule")
    if data.kind == SegmentKind.static and data.rule is not None:
        raise Invalid("rule", "a static segment has members, not a rule")
    name = _clean_name(data.name)
    _ensure_name_free(session, name=name)
    segment = Segment(
        name=name,
        description=data.description,
        kind=data.kind,
        rule=_rule_json(data.rule),
    )
    session.add(segment)
    session.flush()
    record(
        session,
        actor=actor,
        action="segment.created",
        object_type="segment",
        object_id=segment.id,
        details={"name": segment.name},
    )
    return segment


def update(session: Session, *, segment: Segment, data: SegmentUpdate, actor: Principal) -> Segment:
    """Rename, describe, or change the rule of a segment."""
    changes = data.model_dump(exclude_unset=True)
    if "name" in changes:
        name = _clean_name(changes["name"])
        _ensure_name_free(session, name=name, other_than=segment.id)
        segment.name = name
    if "description" in changes:
        segment.description = changes["description"] or ""
    if "rule" in changes:
        if segment.kind == SegmentKind.static:
            raise Invalid("rule", "a static segment has members, not a rule")
        if data.rule is None:
            raise Invalid("rule", "a rule segment needs a rule")
        segment.rule = _rule_json(data.rule)
    segment.updated_at = utcnow()
    session.add(segment)
    session.flush()
    record(
        session,
        actor=actor,
        action="segment.updated",
        object_type="segment",
        object_id=segment.id,
        details={"fields": sorted(changes)},
    )
    return segment


def delete(session: Session, *, segment: Segment, actor: Principal) -> None:
    """Delete a segment; its subscribers stay."""
    record(
        session,
        actor=actor,
        action="segment.deleted",
        object_type="segment",
        object_id=segment.id,
        details={"name": segment.name},
    )
    session.delete(segment)
    session.flush()


def add_members(
    session: Session, *, segment: Segment, emails: list[str], actor: Principal
) -> list[dict[str, str]]:
    """Add known subscribers to a static segment; returns the emails it could not add."""
    _ensure_static(segment)
    normalized: dict[str, int] = {}  # address -> its first position in `emails`
    rejected: list[dict[str, str]] = []
    for index, raw in enumerate(emails):
        try:
            normalized.setdefault(normalize_email(raw), index)
        except ValueError as exc:
            rejected.append({"field": f"emails.{index}", "reason": str(exc)})
    found = dict(
        session.execute(
            select(Subscriber.email, Subscriber.id).where(Subscriber.email.in_(list(normalized)))
        ).all()
    )
    already = set(
        session.scalars(
            select(SegmentMember.subscriber_id).where(
                SegmentMember.segment_id == segment.id,
                SegmentMember.subscriber_id.in_(found.values()),
            )
        )
    )
    for email, index in normalized.items():
        if email not in found:
            rejected.append({"field": f"emails.{index}", "reason": f"no subscriber {email}"})
        elif found[email] not in already:
            session.add(SegmentMember(segment_id=segment.id, subscriber_id=found[email]))
    session.flush()
    record(
        session,
        actor=actor,
        action="segment.members_added",
        object_type="segment",
        object_id=segment.id,
        details={"added": len(found) - len(already)},
    )
    return rejected


def remove_member(
    session: Session, *, segment: Segment, subscriber_id: int, actor: Principal
) -> None:
    """Take one subscriber out of a static segment."""
    _ensure_static(segment)
    member = session.get(SegmentMember, (segment.id, subscriber_id))
    if member is None:
        raise NotFound(f"subscriber {subscriber_id} is not in segment {segment.id}")
    session.delete(member)
    session.flush()
    record(
        session,
        actor=actor,
        action="segment.member_removed",
        object_type="segment",
        object_id=segment.id,
        details={"subscriber_id": subscriber_id},
    )


def _ensure_static(segment: Segment) -> None:
    if segment.kind != SegmentKind.static:
        raise Conflict(f"segment {segment.id} is rule-based; its members follow from its rule")


def _clean_name(name: str | None) -> str:
    if name is None or not name.strip():
        raise Invalid("name", "a segment needs a name")
    return name.strip()


def _ensure_name_free(session: Session, *, name: str, other_than: int | None = None) -> None:
    query = select(Segment.id).where(func.lower(Segment.name) == name.lower())
    if other_than is not None:
        query = query.where(Segment.id != other_than)
    if session.scalar(query) is not None:
        raise Conflict(
            f"a segment named {name!r} exists already",
            errors=[{"field": "name", "reason": "already taken"}],
        )


def _rule_json(rule: Rule | None) -> dict | None:
    if rule is None:
        return None
    return validated_rule(rule).model_dump(mode="json", exclude_none=True)
