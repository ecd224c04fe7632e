"""The frozen audience: every active member of any target segment, each address once."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, insert, select
from sqlmodel import Session

from app.accounts.principal import CLI_PRINCIPAL
from app.db import unit_of_work
from app.delivery import service as sending
from app.delivery.models import Delivery, SendRun
from app.issues.models import Issue
from app.segments.models import Segment, SegmentKind, SegmentMember
from app.subscribers.models import Subscriber, SubscriberStatus
from tests.delivery.factories import approved_issue, people, static_segment

IN_IT = {"all": [{"field": "department", "op": "eq", "value": "IT"}]}


def freeze(engine, issue_id: int) -> list[Delivery]:
    with unit_of_work(engine) as session:
        run = sending.start(session, issue=session.get(Issue, issue_id), actor=CLI_PRINCIPAL)
        sending.freeze_audience(session, run=run)
    with Session(engine) as session:
        return list(session.scalars(select(Delivery).where(Delivery.issue_id == issue_id)))


def test_overlapping_segments_give_each_address_once_with_its_variant(engine):
    ids = people(engine, 6)
    management = static_segment(engine, "Management", ids[:4])
    staff = static_segment(engine, "Staff", ids[2:])
    issue_id = approved_issue(engine, [management, staff])

    rows = freeze(engine, issue_id)
    assert sorted(r.subscriber_id for r in rows) == sorted(ids)
    variants = {r.subscriber_id: r.variant for r in rows}
    assert variants[ids[0]] == [management]
    assert variants[ids[3]] == sorted([management, staff])
    assert variants[ids[5]] == [staff]


def test_unsubscribed_bounced_and_blocked_are_not_frozen(engine):
    active = people(engine, 2, prefix="a")
    gone = [
        people(engine, 1, prefix=s.value, status=s)[0]
        for s in (SubscriberStatus.unsubscribed, SubscriberStatus.bounced, SubscriberStatus.blocked)
    ]
    segment = static_segment(engine, "All", active + gone)
    rows = freeze(engine, approved_issue(engine, [segment]))
    assert sorted(r.subscriber_id for r in rows) == sorted(active)


def test_the_freeze_runs_once(engine):
    segment = static_segment(engine, "All", people(engine, 3))
    issue_id = approved_issue(engine, [segment])
    freeze(engine, issue_id)
    with unit_of_work(engine) as session:
        run = sending.run_of(session, issue_id=issue_id)
        assert sending.freeze_audience(session, run=run) == 3
        again = sending.start(session, issue=session.get(Issue, issue_id), actor=CLI_PRINCIPAL)
        assert again.id == run.id
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 3
        assert session.get(SendRun, run.id).audience_size == 3


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    memberships=st.lists(st.sets(st.integers(0, 11), max_size=12), min_size=1, max_size=4),
    lapsed=st.sets(st.integers(0, 11), max_size=4),
)
def test_any_overlap_of_segments_freezes_each_active_address_once(engine, memberships, lapsed):
    with Session(engine) as session:  # hypothesis reuses the fixture: start clean each time
        for table in (Delivery, SendRun, SegmentMember, Segment, Issue, Subscriber):
            session.execute(delete(table))
        session.commit()
    ids = people(engine, 12)
    with Session(engine) as session:
        for index in lapsed:
            session.get(Subscriber, ids[index]).status = SubscriberStatus.unsubscribed
        session.commit()
    segment_ids = [
        static_segment(engine, f"S{n}", [ids[i] for i in members])
        for n, members in enumerate(memberships)
    ]
    rows = freeze(engine, approved_issue(engine, segment_ids))

    expected = {ids[i] for members in memberships for i in members} - {ids[i] for i in lapsed}
    assert sorted(r.subscriber_id for r in rows) == sorted(expected)
    assert len({r.email for r in rows}) == len(rows)
    for row in rows:
        index = ids.index(row.subscriber_id)
        assert row.variant == sorted(
            s for s, m in zip(segment_ids, memberships, strict=True) if index in m
        )


def test_an_audience_beyond_the_bind_parameter_limit_freezes(engine):
    """PostgreSQL takes at most 65,535 bound values per statement: a freeze that listed the
    members' ids in one IN (...) failed for every audience larger than that."""
    with Session(engine) as session:
        session.execute(
            insert(Subscriber),
            [
                {"email": f"big{i}@example.com", "name": "", "attributes": {"department": "IT"}}
                for i in range(70_000)
            ],
        )
        session.commit()
        everyone = Segment(name="Everyone", kind=SegmentKind.rule, rule=IN_IT)
        session.add(everyone)
        session.commit()
        segment_id = everyone.id
    rows = freeze(engine, approved_issue(engine, [segment_id]))
    assert len(rows) == 70_000
    assert {tuple(r.variant) for r in rows} == {(segment_id,)}
