"""Counts per issue and recipient variant, in SQL: raw events plus what retention folded.

The same per-reader cells (reader_cells) give the reports their distinct readers and the
fold its EngagementReach rows (INSERT ... SELECT), so folding cannot change a figure; the
fold's event cells (raw_event_cells) are finer groups of the same events the reports sum.
Delivery counts of a finished send are kept in DeliverySummary, and the raw events' counts
of an issue in EngagementSummary, while they stay current.
Variants are disjoint groups of recipients (each recipient has one per issue), so distinct
readers of different variants add up; per segment is a sum over its variants.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import (
    Integer,
    and_,
    case,
    cast,
    func,
    literal,
    not_,
    null,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql import Select
from sqlmodel import Session

from app.analytics.models import (
    DeliverySummary,
    EngagementReach,
    EngagementRollup,
    EngagementSummary,
)
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
    parts = []
    for per_excerpt in (False, True):
        per_reader = reader_cells(issue_ids, per_excerpt=per_excerpt)
        excerpt = per_reader.c.excerpt_id if per_excerpt else cast(null(), Integer)
        for measure, human_only in _measures(per_excerpt=per_excerpt):
            readers = func.sum(_reached(per_reader, measure, human_only=human_only))
            parts.append(
                select(
                    per_reader.c.issue_id,
                    per_reader.c.variant,
                    literal(measure).label("measure"),
                    excerpt.label("excerpt_id"),
                    literal(human_only).label("human_only"),
                    readers.label("readers"),
                )
                .group_by(*_keys(per_reader, per_excerpt=per_excerpt))
                .having(readers > 0)
            )
    return union_all(*parts)


def raw_cell_sums(issue_ids: list[int], *, per_excerpt: bool) -> Select:
    """Per issue and variant (and excerpt): the readers of each measure, named as
    `_reach_name` gives, and the events per kind and machine flag (`_events_name`)."""
    per_reader = reader_cells(issue_ids, per_excerpt=per_excerpt)
    keys = _keys(per_reader, per_excerpt=per_excerpt)
    # cast: PostgreSQL sums a bigint column as numeric (a Decimal in Python).
    reached = [
        cast(func.sum(_reached(per_reader, measure, human_only=human_only)), Integer).label(
            _reach_name(measure, human_only)
        )
        for measure, human_only in _measures(per_excerpt=per_excerpt)
    ]
    events = [
        cast(func.sum(per_reader.c[_events_name(kind, machine)]), Integer).label(
            _events_name(kind, machine)
        )
        for kind, machine in _event_cells(per_excerpt=per_excerpt)
    ]
    return select(*keys, *reached, *events).group_by(*keys)


def reader_cells(issue_ids: list[int], *, per_excerpt: bool):
    """One row per issue, variant (and excerpt) and reader: their events per kind and machine
    flag, and whether the row is a reader at all (pseudonym or subscriber id).

    One pass over the events, in the order of an index that keeps each reader's events
    adjacent (ix_engagement_event_reader_cells, _excerpt_cells), instead of one distinct
    count per measure. A row carries a pseudonym or a subscriber id, never both, so each
    distinct pair is one reader (docs/engagement.md); rows with neither count no reader."""
    # FILTER rather than sum(CASE ...): SQLite skips the aggregate step for other rows.
    events = [
        func.count()
        .filter(and_(E.kind == kind, E.machine if machine else not_(E.machine)))
        .label(_events_name(kind, machine))
        for kind, machine in _event_cells(per_excerpt=per_excerpt)
    ]
    is_reader = or_(E.reader.is_not(None), E.subscriber_id.is_not(None)).label("is_reader")
    keys = [E.issue_id, E.variant, *([E.excerpt_id] if per_excerpt else [])]
    where = [E.issue_id.in_(issue_ids)]
    if per_excerpt:
        where.append(E.kind.in_(EXCERPT_KINDS))
    return (
        select(*keys, is_reader, *events)
        .where(*where)
        .group_by(*keys, E.reader, E.subscriber_id)
        .cte("excerpt_readers" if per_excerpt else "readers")
    )


def _reached(per_reader, measure: str, *, human_only: bool):
    """1 if the reader has an event of the measure's kinds (not flagged machine), else 0."""
    kinds = MEASURES[measure][0]
    machines = (False,) if human_only else (False, True)
    events = [per_reader.c[_events_name(kind, machine)] for kind in kinds for machine in machines]
    return case((and_(per_reader.c.is_reader, sum(events[1:], events[0]) > 0), 1), else_=0)


# Per excerpt only clicks count (an open belongs to no excerpt).
EXCERPT_KINDS = sorted(
    {kind for kinds, per_excerpt in MEASURES.values() if per_excerpt for kind in kinds}
)


def _measures(*, per_excerpt: bool) -> list[tuple[str, bool]]:
    return [
        (measure, human_only)
        for measure, (_, by_excerpt) in MEASURES.items()
        if by_excerpt == per_excerpt
        for human_only in (False, True)
    ]


def _event_cells(*, per_excerpt: bool) -> list[tuple[str, bool]]:
    kinds = EXCERPT_KINDS if per_excerpt else list(EventKind)
    return [(kind, machine) for kind in kinds for machine in (False, True)]


def _keys(cells, *, per_excerpt: bool) -> list:
    return [cells.c.issue_id, cells.c.variant, *([cells.c.excerpt_id] if per_excerpt else [])]


def _reach_name(measure: str, human_only: bool) -> str:
    return f"{measure}_{'human' if human_only else 'raw'}"


def _events_name(kind: str, machine: bool) -> str:
    return f"events_{kind}_{'machine' if machine else 'human'}"


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


def tallies(
    session: Session,
    *,
    issue_ids: list[int],
    per_excerpt: bool = True,
    lag: timedelta | None = None,
) -> Tallies:
    """Delivery states, events and reach per issue and variant (raw plus folded); without
    `per_excerpt`, the raw clicks per excerpt are left out (the trend shows none). `lag`:
    see raw_summaries."""
    found: Tallies = defaultdict(lambda: defaultdict(Tally))
    if not issue_ids:
        return found
    _add_deliveries(session, found, issue_ids)
    _add_raw_events(session, found, issue_ids, per_excerpt=per_excerpt, lag=lag)
    rolled = select(
        EngagementRollup.issue_id,
        EngagementRollup.variant,
        EngagementRollup.kind,
        EngagementRollup.excerpt_id,
        EngagementRollup.machine,
        EngagementRollup.events,
    ).where(EngagementRollup.issue_id.in_(issue_ids))
    for issue_id, variant, kind, excerpt_id, machine, events in session.execute(rolled):
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
    for issue_id, variant, measure, excerpt_id, human_only, readers in session.execute(reached):
        found[issue_id][tuple(variant)].reach[(measure, excerpt_id, bool(human_only))] += readers
    return found


def _add_raw_events(
    session: Session,
    found: Tallies,
    issue_ids: list[int],
    *,
    per_excerpt: bool,
    lag: timedelta | None,
) -> None:
    """The raw events' counts and reach per issue and variant (and excerpt), from each
    issue's EngagementSummary while it is current, else counted from the events."""
    for issue_id, cells in raw_summaries(session, issue_ids, lag=lag).items():
        for by_excerpt in (False, True) if per_excerpt else (False,):
            for row in cells["excerpts" if by_excerpt else "issue"]:
                _add_cell_sums(found[issue_id][tuple(row["variant"])], row, by_excerpt)


def _add_cell_sums(tally: Tally, row: dict, by_excerpt: bool) -> None:
    excerpt_id = row["excerpt_id"] if by_excerpt else None
    for measure, human_only in _measures(per_excerpt=by_excerpt):
        tally.reach[(measure, excerpt_id, human_only)] += row[_reach_name(measure, human_only)]
    for kind, machine in _event_cells(per_excerpt=by_excerpt):
        events = row[_events_name(kind, machine)]
        if by_excerpt:
            tally.excerpt_clicks[(excerpt_id, machine)] += events
        else:
            tally.events[(kind, machine)] += events


RawCells = dict[str, list[dict]]


def raw_summaries(
    session: Session, issue_ids: list[int], *, lag: timedelta | None = None
) -> dict[int, RawCells]:
    """Per issue: raw_cell_sums rows, per variant ("issue") and per excerpt ("excerpts").

    Stored summaries that are current are read as they are; stale ones are counted again and
    stored, unless a writer changed the events meanwhile. An issue without a summary row has
    had no event written through events_changed: it is counted, and nothing is stored.
    With a `lag`, a stale summary counted less than that long ago is read as it is: a page
    that may run behind by seconds (the studio's views, STUDIO_LAG) then recounts at most
    once per lag while hits come in, instead of at every view."""
    stored = {
        summary.issue_id: summary
        for summary in session.scalars(
            select(EngagementSummary).where(EngagementSummary.issue_id.in_(issue_ids))
        )
    }
    recent = utcnow() - lag if lag is not None else None

    def usable(summary: EngagementSummary) -> bool:
        if summary.cells is None:
            return False
        if summary.counted_changes == summary.changes:
            return True
        # cells and counted_at are stored together
        return recent is not None and summary.counted_at >= recent

    found = {issue_id: s.cells for issue_id, s in stored.items() if usable(s)}
    stale = [issue_id for issue_id in issue_ids if issue_id not in found]
    if not stale:
        return found
    found.update(_count_raw_events(session, stale))
    for issue_id in stale:
        summary = stored.get(issue_id)
        if summary is not None and summary.counted_changes != summary.changes:
            # Only if `changes` is still what was read before counting: a write committed
            # since then is newer than these counts, so the next report counts again.
            session.execute(
                update(EngagementSummary)
                .where(
                    EngagementSummary.issue_id == issue_id,
                    EngagementSummary.changes == summary.changes,
                )
                .values(counted_changes=summary.changes, cells=found[issue_id], counted_at=utcnow())
            )
    return found


def _count_raw_events(session: Session, issue_ids: list[int]) -> dict[int, RawCells]:
    counted: dict[int, RawCells] = {i: {"issue": [], "excerpts": []} for i in issue_ids}
    for by_excerpt in (False, True):
        rows = session.execute(raw_cell_sums(issue_ids, per_excerpt=by_excerpt)).mappings()
        for row in rows:
            cell = {key: value for key, value in row.items() if key != "issue_id"}
            counted[row["issue_id"]]["excerpts" if by_excerpt else "issue"].append(cell)
    return counted


# Plain SQL that SQLite and PostgreSQL both read: the recorder runs it for every batch.
ANNOUNCE_CHANGE = text(
    "INSERT INTO engagement_summary (issue_id, changes) VALUES (:issue_id, 1)"
    " ON CONFLICT (issue_id) DO UPDATE SET changes = engagement_summary.changes + 1"
)


def events_changed(session: Session, issue_ids: Iterable[int]) -> None:
    """Mark these issues' summaries out of date. Every writer of raw events (insert, machine
    flag, delete) calls this in the same transaction."""
    # Sorted: two writers lock the rows in one order, so they cannot deadlock.
    for issue_id in sorted(set(issue_ids)):
        session.execute(ANNOUNCE_CHANGE, {"issue_id": issue_id})


def _dialect_insert(session: Session):
    postgresql = session.get_bind().dialect.name == "postgresql"
    return postgresql_insert if postgresql else sqlite_insert


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
            recount.append((issue_id, state == RunState.done, changed_at, summary))
    if recount:
        counted = _count_deliveries(session, [issue_id for issue_id, *_ in recount])
        for issue_id, is_done, changed_at, summary in recount:
            found[issue_id] = counted[issue_id]
            if is_done and issue_id in counted:
                values = {"deliveries_changed_at": changed_at, "cells": counted[issue_id]}
                _store_summary(session, issue_id, summary, values)
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
    session: Session, issue_id: int, summary: DeliverySummary | None, values: dict
) -> None:
    # deliveries_changed_at was read before the rows were counted: a change committed in
    # between is in the counts but newer than the stored time, so the next report counts
    # again; it never leaves a summary that looks current without it.
    values = {**values, "counted_at": utcnow()}
    if summary is None:
        # Two reports may count at once: the first stored summary wins, both are exact.
        insert = _dialect_insert(session)(DeliverySummary)
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
