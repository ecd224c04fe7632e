"""Counts per issue and recipient variant, in SQL: raw events plus what retention folded.

The same SELECTs feed the reports and the fold (INSERT ... SELECT), so folding cannot change
a figure. Variants are disjoint groups of recipients (each recipient has one per issue), so
distinct readers of different variants add up; per segment is a sum over its variants.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import (
    Integer,
    and_,
    case,
    cast,
    func,
    literal,
    not_,
    null,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql import Select
from sqlmodel import Session

from app.analytics.models import DeliverySummary, EngagementReach, EngagementRollup
from app.db import utcnow
from app.delivery.models import Delivery, DeliveryState, RunState, SendRun
from app.tracking.models import EngagementEvent, EventKind, ExcerptFeedback

Variant = tuple[int, ...]
E = EngagementEvent

# measure -> the event kinds that count, and whether it is counted per excerpt.
MEASURES: dict[str, tuple[tuple[str, ...], bool]] = {
    "opened": ((EventKind.open, EventKind.click), False),
    "clicked": ((EventKind.click,), False),
    "unsubscribed": ((EventKind.unsubscribe,), False),
    "clicked_excerpt": ((EventKind.click,), True),
}


def _distinct_readers():
    # Aggregate-mode rows carry a pseudonym, individual-mode rows a subscriber id; one row
    # never has both, so the two distinct counts add up (docs/engagement.md).
    return func.count(func.distinct(E.reader)) + func.count(func.distinct(E.subscriber_id))


def raw_event_cells(issue_ids: Iterable[int]) -> Select:
    """Raw events per issue, variant, kind, excerpt, link and machine flag."""
    keys = (E.issue_id, E.variant, E.kind, E.excerpt_id, E.link_id, E.machine)
    return (
        select(*keys, func.count().label("events"), _distinct_readers().label("readers"))
        .where(E.issue_id.in_(list(issue_ids)))
        .group_by(*keys)
    )


def raw_reach_cells(issue_ids: Iterable[int]) -> Select:
    """Distinct readers per issue, variant, measure (and excerpt), raw and human only."""
    issue_ids = list(issue_ids)
    per_reader = _reader_flags(issue_ids)
    parts = []
    for measure, (kinds, per_excerpt) in MEASURES.items():
        for human_only in (False, True):
            if per_excerpt:
                parts.append(_excerpt_reach(issue_ids, measure, kinds, human_only=human_only))
                continue
            readers = func.sum(per_reader.c[_flag_name(measure, human_only)])
            parts.append(
                select(
                    per_reader.c.issue_id,
                    per_reader.c.variant,
                    literal(measure).label("measure"),
                    cast(null(), Integer).label("excerpt_id"),
                    literal(human_only).label("human_only"),
                    readers.label("readers"),
                )
                .group_by(per_reader.c.issue_id, per_reader.c.variant)
                .having(readers > 0)
            )
    return union_all(*parts)


def _flag_name(measure: str, human_only: bool) -> str:
    return f"{measure}_{'human' if human_only else 'raw'}"


def _reader_flags(issue_ids: list[int]):
    """One row per issue, variant and reader, with a 0/1 flag per measure: one pass over the
    events (ix_engagement_event_reader_cells keeps each reader's events adjacent) instead of
    one per measure. A row has a pseudonym or a subscriber id, never both, so each distinct
    pair is one reader (docs/engagement.md)."""
    flags = []
    for measure, (kinds, per_excerpt) in MEASURES.items():
        if per_excerpt:
            continue
        for human_only in (False, True):
            counts = and_(E.kind.in_(kinds), not_(E.machine)) if human_only else E.kind.in_(kinds)
            flags.append(
                func.max(case((counts, 1), else_=0)).label(_flag_name(measure, human_only))
            )
    return (
        select(E.issue_id, E.variant, *flags)
        .where(E.issue_id.in_(issue_ids), (E.reader.is_not(None)) | (E.subscriber_id.is_not(None)))
        .group_by(E.issue_id, E.variant, E.reader, E.subscriber_id)
        .cte("reader_flags")
    )


def _excerpt_reach(
    issue_ids: list[int], measure: str, kinds: tuple[str, ...], *, human_only: bool
) -> Select:
    where = [E.issue_id.in_(issue_ids), E.kind.in_(kinds)]
    if human_only:
        where.append(not_(E.machine))
    return (
        select(
            E.issue_id,
            E.variant,
            literal(measure).label("measure"),
            E.excerpt_id.label("excerpt_id"),
            literal(human_only).label("human_only"),
            _distinct_readers().label("readers"),
        )
        .where(and_(*where))
        .group_by(E.issue_id, E.variant, E.excerpt_id)
    )


@dataclass
class Tally:
    """What the reports need for one issue and variant, before any hiding."""

    audience: int = 0
    delivered: int = 0
    failed: int = 0
    bounced: int = 0
    # (kind, machine) -> events; (excerpt_id, machine) -> click events
    events: dict[tuple[str, bool], int] = field(default_factory=lambda: defaultdict(int))
    excerpt_clicks: dict[tuple[int | None, bool], int] = field(
        default_factory=lambda: defaultdict(int)
    )
    # (measure, excerpt_id, human_only) -> distinct readers
    reach: dict[tuple[str, int | None, bool], int] = field(default_factory=lambda: defaultdict(int))


Tallies = dict[int, dict[Variant, Tally]]


def tallies(session: Session, *, issue_ids: list[int]) -> Tallies:
    """Delivery states, events and reach per issue and variant (raw plus folded)."""
    found: Tallies = defaultdict(lambda: defaultdict(Tally))
    if not issue_ids:
        return found
    _add_deliveries(session, found, issue_ids)
    rolled = select(
        EngagementRollup.issue_id,
        EngagementRollup.variant,
        EngagementRollup.kind,
        EngagementRollup.excerpt_id,
        EngagementRollup.link_id,
        EngagementRollup.machine,
        EngagementRollup.events,
        EngagementRollup.readers,
    ).where(EngagementRollup.issue_id.in_(issue_ids))
    for statement in (raw_event_cells(issue_ids), rolled):
        for issue_id, variant, kind, excerpt_id, _link, machine, events, _ in session.execute(
            statement
        ):
            tally = found[issue_id][tuple(variant)]
            tally.events[(kind, bool(machine))] += events
            if kind == EventKind.click:
                tally.excerpt_clicks[(excerpt_id, bool(machine))] += events
    reached = select(
        EngagementReach.issue_id,
        EngagementReach.variant,
        EngagementReach.measure,
        EngagementReach.excerpt_id,
        EngagementReach.human_only,
        EngagementReach.readers,
    ).where(EngagementReach.issue_id.in_(issue_ids))
    for statement in (raw_reach_cells(issue_ids), reached):
        for issue_id, variant, measure, excerpt_id, human_only, readers in session.execute(
            statement
        ):
            found[issue_id][tuple(variant)].reach[(measure, excerpt_id, bool(human_only))] += (
                readers
            )
    return found


def _add_deliveries(session: Session, found: Tallies, issue_ids: list[int]) -> None:
    for issue_id, cells in delivery_cells(session, issue_ids=issue_ids).items():
        for variant, state, is_permanent, count in cells:
            tally = found[issue_id][tuple(variant)]
            tally.audience += count
            if state == DeliveryState.sent:
                tally.delivered += count
            elif state == DeliveryState.failed:
                tally.failed += count
                tally.bounced += count if is_permanent else 0


DeliveryCells = list[tuple[list[int], str, int, int]]


def delivery_cells(session: Session, *, issue_ids: list[int]) -> dict[int, DeliveryCells]:
    """Delivery rows per issue, variant, state and permanent failure (0 or 1).

    From the issue's DeliverySummary while it is current; otherwise counted from the rows,
    and stored as the summary when the send run is done (nothing sends any more)."""
    newest = (
        select(func.max(Delivery.updated_at))
        .where(Delivery.issue_id == SendRun.issue_id)
        .scalar_subquery()
    )
    runs = session.execute(
        select(SendRun.issue_id, SendRun.state, newest, DeliverySummary)
        .outerjoin(DeliverySummary, DeliverySummary.issue_id == SendRun.issue_id)
        .where(SendRun.issue_id.in_(issue_ids))
    ).all()
    found: dict[int, DeliveryCells] = {}
    recount = []
    for issue_id, state, changed_at, summary in runs:
        if summary is not None and summary.deliveries_changed_at == changed_at:
            found[issue_id] = [tuple(cell) for cell in summary.cells]
        else:
            recount.append((issue_id, state == RunState.done, summary))
    if recount:
        counted = _count_deliveries(session, [issue_id for issue_id, _, _ in recount])
        for issue_id, is_done, summary in recount:
            found[issue_id] = counted[issue_id]
            if is_done and issue_id in counted:
                _store_summary(session, issue_id, summary, counted[issue_id])
    return found


def _count_deliveries(session: Session, issue_ids: list[int]) -> dict[int, DeliveryCells]:
    permanent = case((Delivery.last_code.between(500, 599), 1), else_=0)
    rows = session.execute(
        select(Delivery.issue_id, Delivery.variant, Delivery.state, permanent, func.count())
        .where(Delivery.issue_id.in_(issue_ids))
        .group_by(Delivery.issue_id, Delivery.variant, Delivery.state, permanent)
    )
    counted: dict[int, DeliveryCells] = defaultdict(list)
    for issue_id, variant, state, is_permanent, count in rows:
        counted[issue_id].append((list(variant), state, int(is_permanent), count))
    return counted


def _store_summary(
    session: Session, issue_id: int, summary: DeliverySummary | None, cells: DeliveryCells
) -> None:
    # Read after the counts: a change committed in between leaves a newer updated_at than
    # the one stored, so the next report counts again rather than trusting stale cells.
    changed_at = session.scalar(
        select(func.max(Delivery.updated_at)).where(Delivery.issue_id == issue_id)
    )
    values = {"deliveries_changed_at": changed_at, "cells": cells, "counted_at": utcnow()}
    if summary is None:
        # Two reports may count at once: the first stored summary wins, both are exact.
        postgresql = session.get_bind().dialect.name == "postgresql"
        insert = (postgresql_insert if postgresql else sqlite_insert)(DeliverySummary)
        session.execute(
            insert.values(issue_id=issue_id, **values).on_conflict_do_nothing(
                index_elements=["issue_id"]
            )
        )
    else:
        session.execute(
            update(DeliverySummary).where(DeliverySummary.issue_id == issue_id).values(**values)
        )


@dataclass
class FeedbackTally:
    votes: int = 0
    useful: int = 0
    relevance_count: int = 0
    relevance_sum: int = 0
    clarity_count: int = 0
    clarity_sum: int = 0


def feedback(session: Session, *, issue_ids: list[int]) -> dict[int, dict[int, FeedbackTally]]:
    """Feedback per issue and excerpt; the ratings only where the columns exist."""
    columns = [
        ExcerptFeedback.issue_id,
        ExcerptFeedback.excerpt_id,
        func.count(),
        func.sum(case((ExcerptFeedback.useful, 1), else_=0)),
    ]
    ratings = [getattr(ExcerptFeedback, name, None) for name in ("relevance", "clarity")]
    for rating in ratings:
        if rating is not None:
            columns += [func.count(rating), func.coalesce(func.sum(rating), 0)]
    found: dict[int, dict[int, FeedbackTally]] = defaultdict(dict)
    rows = session.execute(
        select(*columns)
        .where(ExcerptFeedback.issue_id.in_(issue_ids))
        .group_by(ExcerptFeedback.issue_id, ExcerptFeedback.excerpt_id)
    )
    for issue_id, excerpt_id, votes, useful, *rated in rows:
        tally = FeedbackTally(votes=votes, useful=useful or 0)
        for name, rating in zip(("relevance", "clarity"), ratings, strict=True):
            if rating is not None:
                count, total, *rated = rated
                setattr(tally, f"{name}_count", count)
                setattr(tally, f"{name}_sum", total)
        found[issue_id][excerpt_id] = tally
    return found
