"""Distinct readers counted in one pass per reader equal the definition in
docs/engagement.md: per issue, variant and measure, count(distinct reader) plus
count(distinct subscriber_id) over the events of the measure's kinds (not machine for the
human figure); events per kind and machine flag, clicks per excerpt."""

from collections import Counter, defaultdict

from sqlalchemy import select, update
from sqlmodel import Session

from app.analytics.tallies import MEASURES, raw_reach_cells, tallies
from app.db import unit_of_work
from app.tracking.models import EngagementEvent, EventKind
from tests.analytics.factories import audience, events, excerpt_ids, link, sent_issue


def mixed_issue(engine) -> int:
    """Two segments; pseudonymous and individual readers, machine and human hits, a reader
    whose subscriber was deleted (neither pseudonym nor id), clicks in two excerpts."""
    staff, finance = audience(engine, 30, "cs"), audience(engine, 20, "cf")
    issue_id = sent_issue(engine, {"Staff cells": staff, "Finance cells": finance})
    first, second = excerpt_ids(engine, issue_id)
    guide = link(engine, issue_id, first, "https://intranet.example.com/guide")
    queue = link(engine, issue_id, second, "https://tickets.example.com/queue")
    intro = link(engine, issue_id, None, "https://example.com/intro")
    events(engine, issue_id, staff[:20] + finance[:5], "open")
    events(engine, issue_id, staff[10:25], "open", machine=True)
    events(engine, issue_id, staff[:8] + finance[:8], "click", link_id=guide)
    events(engine, issue_id, staff[5:12], "click", link_id=queue, machine=True)
    events(engine, issue_id, staff[:3], "click", link_id=intro)
    events(engine, issue_id, finance[10:18], "open", individual=True)
    events(engine, issue_id, finance[10:14], "click", link_id=guide, individual=True)
    events(engine, issue_id, finance[16:20], "unsubscribe", individual=True)
    events(engine, issue_id, staff[25:30], "unsubscribe")
    with unit_of_work(engine) as session:  # as ON DELETE SET NULL leaves a deleted subscriber
        session.execute(
            update(EngagementEvent)
            .where(EngagementEvent.subscriber_id.in_(finance[16:18]))
            .values(subscriber_id=None)
        )
    return issue_id


def expected_reach(rows) -> dict:
    readers = defaultdict(set)
    for row in rows:
        who = ("r", row.reader) if row.reader else ("s", row.subscriber_id)
        if who[1] is None:
            continue
        for measure, (kinds, per_excerpt) in MEASURES.items():
            if row.kind not in kinds:
                continue
            excerpt_id = row.excerpt_id if per_excerpt else None
            for human_only in (False, True):
                if not (human_only and row.machine):
                    key = (tuple(row.variant), measure, excerpt_id, human_only)
                    readers[key].add(who)
    return {key: len(found) for key, found in readers.items()}


def test_reach_and_events_match_their_definition(engine):
    issue_id = mixed_issue(engine)
    with Session(engine) as session:
        rows = session.scalars(
            select(EngagementEvent).where(EngagementEvent.issue_id == issue_id)
        ).all()
        reach = {
            (tuple(variant), measure, excerpt_id, bool(human_only)): readers
            for _, variant, measure, excerpt_id, human_only, readers in session.execute(
                raw_reach_cells([issue_id])
            )
        }
        found = tallies(session, issue_ids=[issue_id])[issue_id]

    assert reach == expected_reach(rows)
    assert {
        (variant, *key): readers
        for variant, tally in found.items()
        for key, readers in tally.reach.items()
        if readers
    } == expected_reach(rows)
    assert Counter(
        {
            (variant, *key): count
            for variant, tally in found.items()
            for key, count in tally.events.items()
            if count
        }
    ) == Counter((tuple(r.variant), r.kind, r.machine) for r in rows)
    assert Counter(
        {
            (variant, *key): count
            for variant, tally in found.items()
            for key, count in tally.excerpt_clicks.items()
            if count
        }
    ) == Counter(
        (tuple(r.variant), r.excerpt_id, r.machine) for r in rows if r.kind == EventKind.click
    )
