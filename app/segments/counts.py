"""Segment member counts for the studio's pages, remembered until what they depend on changes.

Counting a rule segment evaluates its JSON attribute conditions on every subscriber row:
about 100 ms per segment at 100,000 subscribers on SQLite, so a page that lists every
segment cannot count them all on each view. A count is kept (in this process) under a key
naming everything it depends on: the database, the segment's rule (a static segment's
member list instead) and the version of the subscriber table. Every insert, delete and
update of a subscriber moves that version (row count, max id, max updated_at, which every
update bumps: see Subscriber.updated_at), so the first view after a change recounts.

Two overlapping transactions can commit an updated_at older than one already seen; the
version would then not move. MAX_AGE bounds how long such a count could be shown, and the
pages say when each figure was counted.
"""

import json
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, or_, select
from sqlmodel import Session

from app.db import utcnow
from app.segments.models import Segment, SegmentKind, SegmentMember
from app.segments.service import count, membership_clause
from app.subscribers.models import Subscriber

MAX_AGE = timedelta(minutes=10)
MAX_REMEMBERED = 2000


@dataclass(frozen=True)
class RememberedCount:
    member_count: int
    active_count: int
    counted_at: datetime


_remembered: dict[tuple, RememberedCount] = {}
_lock = threading.Lock()


def segment_counts(session: Session, *, segments: list[Segment]) -> dict[int, RememberedCount]:
    """Members and active members of each segment, by segment id."""
    # The version is read before any count: a write committed in between makes the count
    # newer than its key, never older, and only costs a recount on the next view.
    version = _subscribers_version(session)
    lists = _static_list_versions(session, segments)
    return {
        s.id: _counted(session, key=(*version, _segment_key(s, lists)), clause=membership_clause(s))
        for s in segments
    }


def audience_count(session: Session, *, targets: list[Segment]) -> RememberedCount:
    """The subscribers in any of the target segments, each once."""
    version = _subscribers_version(session)
    lists = _static_list_versions(session, targets)
    keys = tuple(sorted(_segment_key(s, lists) for s in targets))
    clause = or_(*(membership_clause(s) for s in targets))
    return _counted(session, key=(*version, "any", keys), clause=clause)


def forget_all() -> None:
    """Drop every remembered count (tests that reuse ids and timestamps)."""
    with _lock:
        _remembered.clear()


def _counted(session: Session, *, key: tuple, clause: ColumnElement[bool]) -> RememberedCount:
    now = utcnow()
    with _lock:
        known = _remembered.get(key)
    if known is not None and now - known.counted_at < MAX_AGE:
        return known
    counts = count(session, clause=clause)
    fresh = RememberedCount(counts.member_count, counts.active_count, counted_at=now)
    with _lock:
        if len(_remembered) >= MAX_REMEMBERED:
            _remembered.pop(next(iter(_remembered)))  # the oldest entry
        _remembered[key] = fresh
    return fresh


def _subscribers_version(session: Session) -> tuple:
    """Moves with every insert, delete and update of a subscriber; cheap with its indexes."""
    # Three subqueries, not one select: SQLite reads a lone max() from the index's end, but
    # scans the whole table for count(*), max(), max() side by side.
    parts = (func.count(), func.max(Subscriber.id), func.max(Subscriber.updated_at))
    row = session.execute(
        select(*(select(p).select_from(Subscriber).scalar_subquery() for p in parts))
    ).one()
    return (str(session.get_bind().engine.url), *row)


def _static_list_versions(session: Session, segments: list[Segment]) -> dict[int, tuple]:
    """For each static segment: its member count and latest addition (by the primary key)."""
    ids = [s.id for s in segments if s.kind == SegmentKind.static]
    if not ids:
        return {}
    rows = session.execute(
        select(
            SegmentMember.segment_id,
            func.count(),
            func.max(SegmentMember.subscriber_id),
            func.max(SegmentMember.added_at),
        )
        .where(SegmentMember.segment_id.in_(ids))
        .group_by(SegmentMember.segment_id)
    )
    return {segment_id: tuple(rest) for segment_id, *rest in rows}


def _segment_key(segment: Segment, lists: dict[int, tuple]) -> tuple:
    if segment.kind == SegmentKind.static:
        return ("static", segment.id, lists.get(segment.id, (0, None, None)))
    return ("rule", json.dumps(segment.rule, sort_keys=True))
