"""Retention: old raw events are folded into aggregates and deleted, with their salts; the
reports read the same figures before and after."""

import asyncio

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlmodel import Session
from typer.testing import CliRunner

from app.analytics import retention
from app.analytics import service as stats
from app.analytics.retention import fold
from app.cli import app as cli
from app.config import Settings, get_settings
from app.db import unit_of_work, utcnow
from app.delivery.models import Delivery
from app.tracking.models import EngagementEvent, TrackingSalt
from tests.analytics.factories import audience, events, excerpt_ids, link, sent_issue, votes


def old_bulletin(engine, *, days_ago: float, prefix: str) -> int:
    """Two segments, opens (some by Apple's proxy), clicks on two excerpts, unsubscribes,
    a few recorded in individual mode; every event `days_ago` old."""
    staff, finance = audience(engine, 60, f"{prefix}s"), audience(engine, 40, f"{prefix}f")
    issue_id = sent_issue(engine, {f"Staff {prefix}": staff, f"Finance {prefix}": finance})
    first, second = excerpt_ids(engine, issue_id)
    guide = link(engine, issue_id, first, "https://intranet.example.com/guide")
    queue = link(engine, issue_id, second, "https://tickets.example.com/queue")
    when = {"days_ago": days_ago}
    events(engine, issue_id, staff[:30] + finance[:20], "open", **when)
    events(engine, issue_id, staff[:10] + finance[:5], "open", **when)  # opened again
    events(engine, issue_id, staff[30:50], "open", machine=True, **when)
    events(engine, issue_id, staff[:15] + finance[:10], "click", link_id=guide, **when)
    events(engine, issue_id, staff[:12], "click", link_id=queue, **when)
    events(engine, issue_id, staff[30:45], "click", link_id=guide, machine=True, **when)
    events(engine, issue_id, finance[20:32], "open", individual=True, **when)
    events(engine, issue_id, staff[50:60], "unsubscribe", **when)
    votes(engine, issue_id, first, useful=14, not_useful=6)
    with unit_of_work(engine) as session:
        session.add(TrackingSalt(issue_id=issue_id, salt="ab" * 32))
    return issue_id


def report(engine, issue_id: int) -> dict:
    with Session(engine) as session:
        return stats.issue_stats(session, issue_id=issue_id, min_cell=10).model_dump()


def raw_events(engine, issue_id: int) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).where(EngagementEvent.issue_id == issue_id))


def salt_of(engine, issue_id: int):
    with Session(engine) as session:
        return session.get(TrackingSalt, issue_id)


def test_folding_keeps_every_figure_and_deletes_raw_events_and_salts(engine):
    old = old_bulletin(engine, days_ago=120, prefix="o")
    recent = old_bulletin(engine, days_ago=3, prefix="n")
    before_old, before_recent = report(engine, old), report(engine, recent)
    assert before_old["issue"]["unique_opens_raw"] == 82  # a figure worth keeping

    result = fold(engine, retention_days=90)

    assert result.issue_ids == [old] and result.events_deleted == 159
    assert raw_events(engine, old) == 0 and salt_of(engine, old) is None
    assert report(engine, old) == before_old
    # The recent issue is untouched: its raw events and salt stay.
    assert raw_events(engine, recent) == 159 and salt_of(engine, recent) is not None
    assert report(engine, recent) == before_recent
    # Folding again changes nothing.
    assert fold(engine, retention_days=90).issue_ids == []
    assert report(engine, old) == before_old


def test_events_after_the_fold_add_to_the_folded_figures(engine):
    issue_id = old_bulletin(engine, days_ago=100, prefix="l")
    fold(engine, retention_days=90)
    folded = report(engine, issue_id)["issue"]

    # Fifteen recipients who had not opened it open the old email now.
    recipients = _recipients(engine, issue_id)  # the 60 staff, then the 40 finance people
    events(engine, issue_id, recipients[50:57] + recipients[92:], "open")

    after = report(engine, issue_id)["issue"]
    assert after["unique_opens_human"] == folded["unique_opens_human"] + 15


def _recipients(engine, issue_id: int) -> list[int]:
    with Session(engine) as session:
        return list(
            session.scalars(
                select(Delivery.subscriber_id)
                .where(Delivery.issue_id == issue_id)
                .order_by(Delivery.subscriber_id)
            )
        )


def test_an_orphan_salt_older_than_the_period_is_deleted(engine):
    issue_id = old_bulletin(engine, days_ago=1, prefix="s")
    with unit_of_work(engine) as session:
        session.execute(EngagementEvent.__table__.delete())
        salt = session.get(TrackingSalt, issue_id)
        salt.created_at = utcnow().replace(year=utcnow().year - 1)
        session.add(salt)

    assert fold(engine, retention_days=90).salts_deleted == 1
    assert salt_of(engine, issue_id) is None


@pytest.fixture
def cli_env(db_url, engine, monkeypatch, tmp_path):
    monkeypatch.setenv("DRUMBEAT_DATABASE_URL", db_url)
    monkeypatch.setenv("DRUMBEAT_VAR_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_drumbeat_tracking_fold(cli_env, engine):
    issue_id = old_bulletin(engine, days_ago=95, prefix="c")

    kept = CliRunner().invoke(cli, ["tracking", "fold", "--days", "100"])
    assert kept.exit_code == 0, kept.output
    assert raw_events(engine, issue_id) == 159

    result = CliRunner().invoke(cli, ["tracking", "fold"])
    assert result.exit_code == 0, result.output
    assert "Folded 159 raw events of 1 issues; deleted 1 pseudonym salts." in result.output
    assert raw_events(engine, issue_id) == 0


def test_the_app_folds_every_interval_with_the_configured_period(monkeypatch):
    calls = []

    async def run_until_first_fold():
        stop, loop = asyncio.Event(), asyncio.get_running_loop()

        def first_fold(_engine, *, retention_days):
            calls.append(retention_days)
            loop.call_soon_threadsafe(stop.set)

        monkeypatch.setattr(retention, "fold", first_fold)
        quick = Settings(tracking_fold_interval_seconds=0.01, tracking_retention_days=30)
        await asyncio.wait_for(retention.fold_loop(None, quick, stop=stop), timeout=60)

    asyncio.run(run_until_first_fold())
    assert calls == [30]


def test_report_and_retention_settings_are_validated():
    assert Settings().report_min_cell == 10 and Settings().tracking_retention_days == 90
    assert Settings(report_min_cell=5).report_min_cell == 5
    with pytest.raises(ValidationError, match="report_min_cell"):
        Settings(report_min_cell=3)
    with pytest.raises(ValidationError, match="tracking_retention_days"):
        Settings(tracking_retention_days=0)
