"""JSON API for segments: /api/v1/segments."""

from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import BaseModel
from sqlmodel import Session

from app.accounts.principal import Principal
from app.api_types import PathId
from app.deps import SessionDep, require_scope
from app.segments import service as segments
from app.segments.counts import segment_counts
from app.segments.models import (
    DocumentedRule,
    Segment,
    SegmentCount,
    SegmentCreate,
    SegmentPublic,
    SegmentUpdate,
    StaticMembersChange,
)
from app.segments.rules import compile_rule
from app.subscribers.models import SubscriberPublic

router = APIRouter(prefix="/api/v1/segments", tags=["segments"])
Reader = Annotated[Principal, require_scope("subscribers:read")]
Writer = Annotated[Principal, require_scope("subscribers:write")]


class RulePreview(SegmentCount):
    sample: list[SubscriberPublic]


class MembersAdded(BaseModel):
    rejected: list[dict[str, str]]
    segment: SegmentPublic


def _public(session: Session, segment: Segment) -> SegmentPublic:
    return _publics(session, [segment])[0]


def _publics(session: Session, listed: list[Segment]) -> list[SegmentPublic]:
    # Remembered until subscribers or the rule change, so current (app/segments/counts.py).
    counted = segment_counts(session, segments=listed)
    return [
        SegmentPublic.model_validate(
            {
                **s.model_dump(),
                "member_count": counted[s.id].member_count,
                "active_count": counted[s.id].active_count,
            }
        )
        for s in listed
    ]


@router.get("", response_model=list[SegmentPublic])
def list_segments(session: SessionDep, _: Reader):
    """Every segment with its current member count."""
    return _publics(session, segments.list_all(session))


@router.post("", response_model=SegmentPublic, status_code=status.HTTP_201_CREATED)
def create_segment(data: SegmentCreate, session: SessionDep, actor: Writer):
    return _public(session, segments.create(session, data=data, actor=actor))


@router.post("/preview", response_model=RulePreview)
def preview_rule(rule: DocumentedRule, session: SessionDep, _: Reader):
    """Count and sample who a rule selects, before saving it."""
    clause = compile_rule(segments.validated_rule(rule))
    counts = segments.count(session, clause=clause)
    sample = segments.preview_members(session, clause=clause)
    return RulePreview(
        **counts.model_dump(), sample=[SubscriberPublic.model_validate(s) for s in sample]
    )


# {segment_id:int}: /preview shares the prefix; a wrong method on it is a 405, not a 422.
@router.get("/{segment_id:int}", response_model=SegmentPublic)
def get_segment(segment_id: PathId, session: SessionDep, _: Reader):
    return _public(session, segments.get(session, segment_id=segment_id))


@router.get("/{segment_id}/members", response_model=list[SubscriberPublic])
def preview_segment_members(
    segment_id: PathId,
    session: SessionDep,
    _: Reader,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
):
    """The first members by email; the full list is /api/v1/subscribers?segment_id=."""
    segment = segments.get(session, segment_id=segment_id)
    return segments.preview_members(
        session, clause=segments.membership_clause(segment), limit=limit
    )


@router.patch("/{segment_id:int}", response_model=SegmentPublic)
def update_segment(segment_id: PathId, data: SegmentUpdate, session: SessionDep, actor: Writer):
    segment = segments.get(session, segment_id=segment_id)
    return _public(session, segments.update(session, segment=segment, data=data, actor=actor))


@router.delete("/{segment_id:int}", status_code=status.HTTP_204_NO_CONTENT)
def delete_segment(segment_id: PathId, session: SessionDep, actor: Writer) -> None:
    segments.delete(session, segment=segments.get(session, segment_id=segment_id), actor=actor)


@router.post("/{segment_id}/members", response_model=MembersAdded)
def add_static_members(
    segment_id: PathId, data: StaticMembersChange, session: SessionDep, actor: Writer
):
    """Add subscribers (by email) to a static segment."""
    segment = segments.get(session, segment_id=segment_id)
    rejected = segments.add_members(session, segment=segment, emails=data.emails, actor=actor)
    return MembersAdded(rejected=rejected, segment=_public(session, segment))


@router.delete("/{segment_id}/members/{subscriber_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_static_member(
    segment_id: PathId, subscriber_id: PathId, session: SessionDep, actor: Writer
) -> None:
    segment = segments.get(session, segment_id=segment_id)
    segments.remove_member(session, segment=segment, subscriber_id=subscriber_id, actor=actor)
