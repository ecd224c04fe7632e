"""Remembered segment counts: reused while nothing changed, right after every kind of change."""

import io

from sqlalchemy import select
from sqlmodel import Session

from app.accounts.principal import SYSTEM_PRINCIPAL
from app.delivery.worker import _mark_bounced
from app.segments import service as segments
from app.segments.counts import RememberedCount, audience_count, segment_counts
from app.segments.models import Segment, SegmentCreate, SegmentKind, SegmentUpdate
from app.segments.rules import Rule
from app.subscribers import service as subscribers
from app.subscribers.importer import import_csv
from app.subscribers.models import Subscriber, SubscriberUpdate
from app.tracking.tokens import Purpose

IN_BERLIN = {"all": [{"field": "location", "op": "eq", "value": "Berlin"}]}


def add(session: Session, email: str, *, status: str = "active", **attributes: str) -> Subscriber:
    subscriber = Subscriber(email=email, status=status, attributes=attributes)
    session.add(subscriber)
    session.commit()
    return subscriber


def rule_segment(session: Session, rule: dict = IN_BERLIN, name: str = "Berlin") -> Segment:
    data = SegmentCreate(name=name, rule=Rule.model_validate(rule))
    segment = segments.create(session, data=data, actor=SYSTEM_PRINCIPAL)
    session.commit()
    return segment


def counted(session: Session, segment: Segment) -> tuple[int, int]:
    found = segment_counts(session, segments=[segment])[segment.id]
    return found.member_count, found.active_count


def test_a_count_is_remembered_while_nothing_changes(session):
    add(session, "a@example.com", location="Berlin")
    segment = rule_segment(session)
    first = segment_counts(session, segments=[segment])[segment.id]
    again = segment_counts(session, segments=[segment])[segment.id]
    assert isinstance(first, RememberedCount) and (first.member_count, first.active_count) == (1, 1)
    assert again is first  # not counted again: same rule, same subscribers


def test_a_count_is_right_after_an_import_that_adds_and_one_that_only_changes(session):
    add(session, "a@example.com", location="Berlin")
    segment = rule_segment(session)
    assert counted(session, segment) == (1, 1)

    csv = b"email,location\nb@example.com,Berlin\nc@example.com,Hamburg\n"
    import_csv(session, binary=io.BytesIO(csv), actor=SYSTEM_PRINCIPAL)
    session.commit()
    assert counted(session, segment) == (2, 2)

    # No row added or removed: only updated_at tells the counts that something changed.
    csv = b"email,location\nc@example.com,Berlin\na@example.com,Munich\n"
    import_csv(session, binary=io.BytesIO(csv), actor=SYSTEM_PRINCIPAL)
    session.commit()
    session.expire_all()
    assert counted(session, segment) == (2, 2)
    members = session.scalars(select(Subscriber.email).where(segments.membership_clause(segment)))
    assert sorted(members) == ["b@example.com", "c@example.com"]


def test_a_count_is_right_after_an_unsubscribe_link_is_used(client, app, session):
    reader = add(session, "a@example.com", location="Berlin")
    segment = rule_segment(session)
    assert counted(session, segment) == (1, 1)

    token = app.state.renderer.signer.make(Purpose.unsubscribe, reader.id)
    assert client.post(f"/u/{token}").status_code == 200
    session.expire_all()
    assert counted(session, segment) == (1, 0)


def test_a_count_is_right_after_a_bounce(engine, session):
    reader = add(session, "a@example.com", location="Berlin")
    segment = rule_segment(session)
    assert counted(session, segment) == (1, 1)

    # As the send worker marks a hard bounce: status only; updated_at follows by itself.
    with Session(engine) as worker_session:
        _mark_bounced(worker_session, reader.id)
        worker_session.commit()
    assert counted(session, segment) == (1, 0)


def test_a_count_is_right_after_a_subscriber_edit_and_a_delete(session):
    reader = add(session, "a@example.com", location="Berlin")
    add(session, "b@example.com", location="Berlin")
    segment = rule_segment(session)
    assert counted(session, segment) == (2, 2)

    subscribers.update(
        session,
        subscriber=reader,
        data=SubscriberUpdate(attributes={"location": "Paris"}),
        actor=SYSTEM_PRINCIPAL,
    )
    session.commit()
    assert counted(session, segment) == (1, 1)

    other = session.scalar(select(Subscriber).where(Subscriber.email == "b@example.com"))
    subscribers.delete(session, subscriber=other, actor=SYSTEM_PRINCIPAL)
    session.commit()
    assert counted(session, segment) == (0, 0)


def test_a_count_is_right_after_the_rule_changes(session):
    add(session, "a@example.com", location="Berlin")
    add(session, "b@example.com", location="Paris")
    segment = rule_segment(session)
    assert counted(session, segment) == (1, 1)

    paris = Rule.model_validate({"all": [{"field": "location", "op": "eq", "value": "Paris"}]})
    both = Rule.model_validate(
        {"any": [IN_BERLIN, {"all": [{"field": "location", "op": "eq", "value": "paris"}]}]}
    )
    segments.update(
        session, segment=segment, data=SegmentUpdate(rule=paris), actor=SYSTEM_PRINCIPAL
    )
    session.commit()
    assert counted(session, segment) == (1, 1)
    segments.update(session, segment=segment, data=SegmentUpdate(rule=both), actor=SYSTEM_PRINCIPAL)
    session.commit()
    assert counted(session, segment) == (2, 2)


def test_a_static_count_follows_its_member_list(session):
    add(session, "a@example.com")
    add(session, "b@example.com")
    data = SegmentCreate(name="Pilots", kind=SegmentKind.static)
    segment = segments.create(session, data=data, actor=SYSTEM_PRINCIPAL)
    session.commit()
    assert counted(session, segment) == (0, 0)

    segments.add_members(session, segment=segment, emails=["a@example.com"], actor=SYSTEM_PRINCIPAL)
    session.commit()
    assert counted(session, segment) == (1, 1)

    first = session.scalar(select(Subscriber.id).where(Subscriber.email == "a@example.com"))
    segments.remove_member(session, segment=segment, subscriber_id=first, actor=SYSTEM_PRINCIPAL)
    segments.add_members(session, segment=segment, emails=["b@example.com"], actor=SYSTEM_PRINCIPAL)
    session.commit()
    assert counted(session, segment) == (1, 1)  # as many as before, but not the same list
    segments.remove_member(
        session, segment=segment, subscriber_id=first + 1, actor=SYSTEM_PRINCIPAL
    )
    session.commit()
    assert counted(session, segment) == (0, 0)


def test_the_audience_of_several_segments_counts_each_subscriber_once(engine, session):
    reader = add(session, "a@example.com", location="Berlin", role="management")
    add(session, "b@example.com", location="Paris", role="management")
    berlin = rule_segment(session)
    managers = rule_segment(
        session, {"all": [{"field": "role", "op": "eq", "value": "management"}]}, name="Managers"
    )
    assert audience_count(session, targets=[berlin, managers]).active_count == 2

    with Session(engine) as worker_session:
        _mark_bounced(worker_session, reader.id)
        worker_session.commit()
    found = audience_count(session, targets=[managers, berlin])
    assert (found.member_count, found.active_count) == (2, 1)
