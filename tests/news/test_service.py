"""News services without HTTP: concurrent intake, outcomes, and the rate limit counter."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from app.accounts.principal import Principal
from app.config import Settings
from app.db import unit_of_work
from app.errors import TooManyRequests
from app.news import ratelimit
from app.news import service as news
from app.news.models import NewsItem, NewsItemCreate, NewsItemRevision, RateLimitWindow

SERVICE = Principal(kind="api_key", id=1, label="monitoring", scopes=frozenset({"news:write"}))
DAYS = {"win": 42, "open_work": 90, "risk": 90, "incident": 14, "opportunity": 60, "info": 30}


def incident(**overrides) -> NewsItemCreate:
    fields = {
        "source": "monitoring",
        "external_id": "INC-1",
        "title": "Mail is down",
        "kind": "incident",
        "occurred_at": datetime(2026, 11, 25, 7, 0, tzinfo=UTC),
    }
    return NewsItemCreate.model_validate(fields | overrides)


def test_upsert_reports_created_unchanged_and_updated(session):
    item, outcome = news.upsert(session, data=incident(), actor=SERVICE, stale_after_days=DAYS)
    assert outcome == "created"
    again, outcome = news.upsert(session, data=incident(), actor=SERVICE, stale_after_days=DAYS)
    assert (again.id, outcome) == (item.id, "unchanged")
    resolved, outcome = news.upsert(
        session, data=incident(resolved=True), actor=SERVICE, stale_after_days=DAYS
    )
    assert (resolved.id, outcome, resolved.resolved) == (item.id, "updated", True)
    assert resolved.stale_at == datetime(2026, 12, 9, 7, 0, tzinfo=UTC)


def test_two_concurrent_first_posts_make_one_item(engine):
    """The second post waits for the first to commit, then finds the item unchanged."""
    first_inserted, release_first = threading.Event(), threading.Event()
    outcomes: dict[str, str] = {}
    failures: list[BaseException] = []

    def first() -> None:
        try:
            with unit_of_work(engine) as session:
                _, outcomes["first"] = news.upsert(
                    session, data=incident(), actor=SERVICE, stale_after_days=DAYS
                )
                first_inserted.set()
                release_first.wait(timeout=10)
        except BaseException as exc:  # reported below, in the test's own thread
            failures.append(exc)
            first_inserted.set()

    def second() -> None:
        try:
            with unit_of_work(engine) as session:
                _, outcomes["second"] = news.upsert(
                    session, data=incident(), actor=SERVICE, stale_after_days=DAYS
                )
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert first_inserted.wait(timeout=10)
    threads[1].start()
    threads[1].join(timeout=0.5)  # the second is now blocked on the first's uncommitted row
    release_first.set()
    for thread in threads:
        thread.join(timeout=30)
    assert failures == []
    assert outcomes == {"first": "created", "second": "unchanged"}
    with unit_of_work(engine) as session:
        assert session.scalar(select(func.count()).select_from(NewsItem)) == 1
        assert session.scalar(select(func.count()).select_from(NewsItemRevision)) == 0


def test_the_counter_refuses_beyond_the_limit_until_the_next_minute(session):
    start = datetime(2026, 11, 26, 9, 15, 10, tzinfo=UTC)
    for n in range(3):
        assert ratelimit.hit(session, key="k", limit=3, now=start + timedelta(seconds=n)) == n + 1
    with pytest.raises(TooManyRequests) as refused:
        ratelimit.hit(session, key="k", limit=3, now=start + timedelta(seconds=20))
    assert refused.value.headers == {"Retry-After": "30"}
    # Another caller has its own count.
    assert ratelimit.hit(session, key="other", limit=3, now=start) == 1

    next_minute = datetime(2026, 11, 26, 9, 16, 0, 500_000, tzinfo=UTC)
    assert ratelimit.hit(session, key="k", limit=3, now=next_minute) == 1
    windows = session.scalars(
        select(RateLimitWindow.window_start).where(RateLimitWindow.key == "k")
    )
    assert list(windows) == [datetime(2026, 11, 26, 9, 16, tzinfo=UTC)]


def test_retry_after_is_at_least_a_second(session):
    late = datetime(2026, 11, 26, 9, 15, 59, 900_000, tzinfo=UTC)
    ratelimit.hit(session, key="k", limit=1, now=late)
    with pytest.raises(TooManyRequests) as refused:
        ratelimit.hit(session, key="k", limit=1, now=late)
    assert refused.value.headers["Retry-After"] == "1"


def test_the_windows_can_be_set_per_kind_from_the_environment(monkeypatch):
    monkeypatch.setenv("DRUMBEAT_STALE_AFTER_DAYS", '{"incident": 7}')
    assert Settings().stale_after_days == DAYS | {"incident": 7}
    monkeypatch.setenv("DRUMBEAT_STALE_AFTER_DAYS", '{"outage": 7}')
    with pytest.raises(ValidationError, match="unknown kinds"):
        Settings()
    monkeypatch.setenv("DRUMBEAT_STALE_AFTER_DAYS", '{"win": 0}')
    with pytest.raises(ValidationError, match="1 to 3650"):
        Settings()
