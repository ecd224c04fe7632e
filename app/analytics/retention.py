"""Retention: raw engagement events are folded into aggregates and deleted, then the salt
that could link their pseudonyms to people.

An issue is folded whole, once its oldest raw event is older than the retention period:
all of its raw events (younger ones too) go into engagement_rollup and engagement_reach by
the same SELECTs the reports use, so every figure stays the same. Folding event by event
instead would count a reader who opened on two days twice. Events arriving after the fold
(someone opens a months-old email) are folded on a later run as a separate batch.
"""

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, insert, literal, select
from sqlalchemy.engine import Engine

from app.analytics.models import EngagementReach, EngagementRollup, EngagementSummary
from app.analytics.tallies import raw_event_cells, raw_reach_cells
from app.config import Settings
from app.db import unit_of_work, utcnow
from app.tracking.models import EngagementEvent, TrackingSalt

log = logging.getLogger("drumbeat.analytics")


@dataclass
class FoldResult:
    issue_ids: list[int] = field(default_factory=list)
    events_deleted: int = 0
    salts_deleted: int = 0


def fold(engine: Engine, *, retention_days: int, now: datetime | None = None) -> FoldResult:
    """Fold every issue with raw events older than the period; one transaction each."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    result = FoldResult()
    with unit_of_work(engine) as session:
        due = list(
            session.scalars(
                select(EngagementEvent.issue_id)
                .where(EngagementEvent.occurred_at < cutoff)
                .distinct()
                .order_by(EngagementEvent.issue_id)
            )
        )
    snapshot = _snapshot_engine(engine)
    for issue_id in due:
        events, salts = _fold_issue(snapshot, issue_id)
        result.issue_ids.append(issue_id)
        result.events_deleted += events
        result.salts_deleted += salts
    result.salts_deleted += _delete_orphan_salts(engine, cutoff)
    return result


def _snapshot_engine(engine: Engine) -> Engine:
    # PostgreSQL: the INSERT ... SELECT and the DELETE must see the same rows, or an event
    # committed between them would be deleted without being counted. SQLite serialises
    # writers: the transaction holds the write lock from its first INSERT.
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="REPEATABLE READ")
    return engine


def _fold_issue(engine: Engine, issue_id: int) -> tuple[int, int]:
    """Move one issue's raw events into the aggregates; returns the events and salts
    deleted."""
    with unit_of_work(engine) as session:
        folded_at = utcnow()
        events = raw_event_cells([issue_id]).subquery()
        session.execute(
            insert(EngagementRollup).from_select(
                [*events.c.keys(), "folded_at"],
                select(*events.c, _at(folded_at)),
            )
        )
        reach = raw_reach_cells([issue_id]).subquery()
        session.execute(
            insert(EngagementReach).from_select(
                [*reach.c.keys(), "folded_at"],
                select(*reach.c, _at(folded_at)),
            )
        )
        deleted = session.execute(
            delete(EngagementEvent).where(EngagementEvent.issue_id == issue_id)
        ).rowcount
        # The summary counted raw events that are now in the aggregates.
        session.execute(delete(EngagementSummary).where(EngagementSummary.issue_id == issue_id))
        # None of its raw events remain: the pseudonyms' key can go, for good.
        salts = session.execute(
            delete(TrackingSalt).where(TrackingSalt.issue_id == issue_id)
        ).rowcount
    log.info("retention: folded %d raw events of issue %s", deleted, issue_id)
    return deleted, salts


def _at(moment: datetime):
    return literal(moment, EngagementRollup.__table__.c.folded_at.type).label("folded_at")


def _delete_orphan_salts(engine: Engine, cutoff: datetime) -> int:
    """Salts older than the period whose issue has no raw events left (none to count)."""
    with unit_of_work(engine) as session:
        return session.execute(
            delete(TrackingSalt).where(
                TrackingSalt.created_at < cutoff,
                ~exists().where(EngagementEvent.issue_id == TrackingSalt.issue_id),
            )
        ).rowcount


async def fold_loop(engine: Engine, settings: Settings, *, stop: asyncio.Event) -> None:
    """For the app's lifespan: fold every tracking_fold_interval_seconds, first after one
    interval (a restart loop must not fold on every start)."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=settings.tracking_fold_interval_seconds)
        if stop.is_set():
            return
        try:
            await asyncio.to_thread(fold, engine, retention_days=settings.tracking_retention_days)
        except Exception:
            log.exception("retention: folding failed; it tries again next time")


@contextlib.asynccontextmanager
async def in_app(engine: Engine, settings: Settings):
    """Run the fold loop while the app lives (unless the interval is 0)."""
    if not settings.tracking_fold_interval_seconds:
        yield
        return
    stop = asyncio.Event()
    task = asyncio.get_running_loop().create_task(fold_loop(engine, settings, stop=stop))
    try:
        yield
    finally:
        stop.set()
        await task
