"""The delivery summary: counted once a send is done, read instead of every delivery row
while no row of the issue has changed, and counted again after any change (a late bounce)."""

from alembic import command
from sqlalchemy import inspect, select, update
from sqlmodel import Session

from app.analytics.models import DeliverySummary
from app.analytics.tallies import tallies
from app.cli import alembic_config
from app.db import unit_of_work, utcnow
from app.delivery.models import Delivery, DeliveryState, RunState, SendRun
from tests.analytics.factories import audience, sent_issue


def finish(engine, issue_id: int) -> None:
    with unit_of_work(engine) as session:
        session.execute(
            update(SendRun)
            .where(SendRun.issue_id == issue_id)
            .values(state=RunState.done, finished_at=utcnow())
        )


def bounce(engine, issue_id: int, subscriber_ids: list[int], code: int = 550) -> None:
    """A failure reported after the run was done, written as the worker writes a delivery
    row: with its updated_at."""
    with unit_of_work(engine) as session:
        session.execute(
            update(Delivery)
            .where(Delivery.issue_id == issue_id, Delivery.subscriber_id.in_(subscriber_ids))
            .values(state=DeliveryState.failed, last_code=code, updated_at=utcnow())
        )


def counts(engine, issue_id: int) -> tuple[int, int, int, int]:
    """(audience, delivered, failed, bounced) as a report reads them, committed as a request
    commits."""
    with unit_of_work(engine) as session:
        found = tallies(session, issue_ids=[issue_id])[issue_id].values()
    return tuple(
        sum(getattr(t, name) for t in found)
        for name in ("audience", "delivered", "failed", "bounced")
    )


def summary(engine, issue_id: int) -> DeliverySummary | None:
    with Session(engine) as session:
        return session.get(DeliverySummary, issue_id)


def test_a_late_bounce_after_the_send_is_done_shows_in_the_next_report(engine):
    ids = audience(engine, 40, "b")
    issue_id = sent_issue(engine, {"All staff": ids})
    finish(engine, issue_id)

    assert counts(engine, issue_id) == (40, 40, 0, 0)
    stored = summary(engine, issue_id)
    assert stored is not None and len(stored.cells) == 1

    bounce(engine, issue_id, ids[:12])
    bounce(engine, issue_id, ids[12:15], code=451)

    assert counts(engine, issue_id) == (40, 25, 15, 12)
    assert summary(engine, issue_id).deliveries_changed_at > stored.deliveries_changed_at
    assert counts(engine, issue_id) == (40, 25, 15, 12)


def test_the_summary_is_read_while_no_delivery_changed(engine):
    ids = audience(engine, 20, "r")
    issue_id = sent_issue(engine, {"All staff": ids})
    finish(engine, issue_id)
    counts(engine, issue_id)
    with unit_of_work(engine) as session:  # proof that it is read, not recounted
        cells = [
            [variant, state, permanent, 1000]
            for variant, state, permanent, _ in session.get(DeliverySummary, issue_id).cells
        ]
        session.execute(update(DeliverySummary).values(cells=cells))

    assert counts(engine, issue_id) == (1000, 1000, 0, 0)

    bounce(engine, issue_id, ids[:1])

    assert counts(engine, issue_id) == (20, 19, 1, 1)


def test_no_summary_while_the_send_is_not_done(engine):
    ids = audience(engine, 12, "n")
    issue_id = sent_issue(engine, {"All staff": ids})  # audience frozen, run still running

    assert counts(engine, issue_id) == (12, 12, 0, 0)
    assert summary(engine, issue_id) is None

    bounce(engine, issue_id, ids[:2])

    assert counts(engine, issue_id) == (12, 10, 2, 2)


def test_the_migration_downgrades_and_upgrades(db_url, engine):
    config = alembic_config(db_url)
    config.attributes["configure_logger"] = False

    def event_indexes() -> set[str]:
        return {index["name"] for index in inspect(engine).get_indexes("engagement_event")}

    command.downgrade(config, "f5a6b7c8dlix")
    assert "delivery_summary" not in inspect(engine).get_table_names()
    assert not event_indexes() & {
        "ix_engagement_event_reader_cells",
        "ix_engagement_event_excerpt_cells",
    }

    command.upgrade(config, "heads")
    assert "delivery_summary" in inspect(engine).get_table_names()
    assert {
        "ix_engagement_event_reader_cells",
        "ix_engagement_event_excerpt_cells",
    } <= event_indexes()
    with Session(engine) as session:
        assert session.scalars(select(DeliverySummary)).all() == []
