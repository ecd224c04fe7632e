"""Stored summaries of raw events: a report reads them while they are current, and every
writer of raw events (the recorder, a late burst, an unsubscribe, deleting a subscriber,
the retention fold) makes the next report count again, so no report is ever stale. Only
the studio's views of them may run behind, by at most their lag."""

from datetime import timedelta

from sqlalchemy import text
from sqlmodel import Session

from app.accounts.models import Role
from app.accounts.principal import CLI_PRINCIPAL
from app.analytics import service as stats
from app.analytics.models import EngagementSummary
from app.analytics.retention import fold
from app.analytics.tallies import events_changed
from app.analytics.unsubscribe import record_unsubscribe
from app.db import unit_of_work, utcnow
from app.subscribers import service as subscribers
from app.subscribers.models import Subscriber
from tests.analytics.factories import audience, events, sent_issue
from tests.studio.helpers import sign_in
from tests.tracking.factories import GUIDE, PORTAL, STATUS, linked_issue, message_for

BROWSER = {
    "User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
}


def report(engine, issue_id: int) -> dict:
    """The issue's figures (none hidden) as a request reads them: in a transaction that
    commits."""
    with unit_of_work(engine) as session:
        return stats.issue_stats(session, issue_id=issue_id, min_cell=0).model_dump()["issue"]


def summary(engine, issue_id: int) -> EngagementSummary | None:
    with Session(engine) as session:
        return session.get(EngagementSummary, issue_id)


def is_current(engine, issue_id: int) -> bool:
    stored = summary(engine, issue_id)
    return stored is not None and stored.counted_changes == stored.changes


def test_a_report_stores_the_counts_and_reads_them_until_events_change(engine):
    ids = audience(engine, 20, "s")
    issue_id = sent_issue(engine, {"All staff": ids})
    events(engine, issue_id, ids[:12], "open")
    assert not is_current(engine, issue_id)

    assert report(engine, issue_id)["unique_opens_raw"] == 12
    assert is_current(engine, issue_id)

    # An event written behind the writers' back is not seen: the stored counts are read.
    with unit_of_work(engine) as session:
        session.execute(
            text(
                "INSERT INTO engagement_event (issue_id, kind, variant, reader, machine,"
                " machine_reason, occurred_at) SELECT issue_id, kind, variant, 'unseen',"
                " machine, machine_reason, occurred_at FROM engagement_event"
                " WHERE issue_id = :issue_id LIMIT 1"
            ),
            {"issue_id": issue_id},
        )
    assert report(engine, issue_id)["unique_opens_raw"] == 12
    # Announced as every writer announces it, the next report counts again.
    with unit_of_work(engine) as session:
        events_changed(session, [issue_id])
    assert report(engine, issue_id)["unique_opens_raw"] == 13


def test_hits_after_a_stored_report_show_in_the_next_one(app, client, engine):
    ids = audience(engine, 12, "h")
    issue_id = sent_issue(engine, {"All staff": ids}, make=linked_issue)
    messages = {person: message_for(app, engine, issue_id, person) for person in ids}
    for person in ids[:5]:
        client.get(messages[person].pixel, headers=BROWSER)
    app.state.recorder.flush()
    assert report(engine, issue_id)["unique_opens_human"] == 5
    assert is_current(engine, issue_id)

    for person in ids[5:9]:
        client.get(messages[person].pixel, headers=BROWSER)
        client.get(messages[person].clicks[GUIDE], headers=BROWSER, follow_redirects=False)
    app.state.recorder.flush()
    assert not is_current(engine, issue_id)  # the recorder's batch announced its events

    figures = report(engine, issue_id)
    assert figures["unique_opens_human"] == 9
    assert figures["unique_clickers_human"] == 4 and figures["clicks_human"] == 4


def test_a_burst_completed_in_a_later_batch_turns_stored_human_clicks_into_machine_ones(
    app, client, engine
):
    ids = audience(engine, 6, "b")
    issue_id = sent_issue(engine, {"All staff": ids}, make=linked_issue)
    messages = {person: message_for(app, engine, issue_id, person) for person in ids}
    for person in ids:
        client.get(messages[person].clicks[GUIDE], headers=BROWSER, follow_redirects=False)
    app.state.recorder.flush()
    assert report(engine, issue_id)["clicks_human"] == 6

    # Within two seconds each reader follows two more links: a scanner, not a person.
    for person in ids:
        for url in (PORTAL, STATUS):
            client.get(messages[person].clicks[url], headers=BROWSER, follow_redirects=False)
    app.state.recorder.flush()

    figures = report(engine, issue_id)
    assert (figures["clicks_raw"], figures["clicks_human"]) == (18, 0)
    assert figures["unique_clickers_human"] == 0


def test_an_unsubscribe_after_a_stored_report_is_counted(engine):
    ids = audience(engine, 10, "u")
    issue_id = sent_issue(engine, {"All staff": ids})
    events(engine, issue_id, ids[:4], "open")
    assert report(engine, issue_id)["unsubscribes"] == 0

    with unit_of_work(engine) as session:
        assert record_unsubscribe(session, issue_id=issue_id, subscriber_id=ids[0])

    assert report(engine, issue_id)["unsubscribes"] == 1


def test_deleting_a_subscriber_recorded_by_name_updates_the_stored_readers(engine):
    ids = audience(engine, 10, "d")
    issue_id = sent_issue(engine, {"All staff": ids})
    events(engine, issue_id, ids[:6], "open", individual=True)
    assert report(engine, issue_id)["unique_opens_raw"] == 6

    with unit_of_work(engine) as session:
        person = session.get(Subscriber, ids[0])
        subscribers.delete(session, subscriber=person, actor=CLI_PRINCIPAL)

    # Their event stays (as an open) but names no one: it counts no reader any more.
    assert report(engine, issue_id)["unique_opens_raw"] == 5


def test_folding_drops_the_stored_summary_and_keeps_every_figure(engine):
    ids = audience(engine, 20, "f")
    issue_id = sent_issue(engine, {"All staff": ids})
    events(engine, issue_id, ids[:15], "open", days_ago=120)
    events(engine, issue_id, ids[:8], "open", machine=True, days_ago=120)
    before = report(engine, issue_id)
    assert is_current(engine, issue_id)

    assert fold(engine, retention_days=90).issue_ids == [issue_id]

    assert summary(engine, issue_id) is None
    assert report(engine, issue_id) == before


def test_studio_views_run_behind_by_at_most_their_lag_and_reports_do_not(app, engine):
    ids = audience(engine, 20, "d")
    issue_id = sent_issue(engine, {"All staff": ids})
    events(engine, issue_id, ids[:5], "open")

    def at_a_glance() -> int:
        with unit_of_work(engine) as session:
            last = stats.trend(session, last=1, min_cell=0, lag=stats.STUDIO_LAG).issues[-1]
            return last.unique_opens_raw

    assert at_a_glance() == 5  # counted and stored
    events(engine, issue_id, ids[5:9], "open")
    assert at_a_glance() == 5  # counted moments ago: read as stored
    # Once the stored counts are older than the lag, the next glance counts again.
    with unit_of_work(engine) as session:
        session.execute(
            text("UPDATE engagement_summary SET counted_at = :at WHERE issue_id = :issue_id"),
            {"at": utcnow() - stats.STUDIO_LAG - timedelta(seconds=1), "issue_id": issue_id},
        )
    assert at_a_glance() == 9
    events(engine, issue_id, ids[9:11], "open")
    assert at_a_glance() == 9
    with unit_of_work(engine) as session:
        page = stats.issue_stats(session, issue_id=issue_id, min_cell=0, lag=stats.STUDIO_LAG)
        assert page.issue.unique_opens_raw == 9  # the studio's issue page, within the lag
    assert report(engine, issue_id)["unique_opens_raw"] == 11  # the API and CSVs are exact


def test_the_studio_says_its_figures_may_run_behind(client, engine):
    ids = audience(engine, 20, "g")
    issue_id = sent_issue(engine, {"All staff": ids})
    events(engine, issue_id, ids[:5], "open")
    sign_in(client, engine, Role.admin)
    page = client.get("/studio").text
    assert "may be up to 30 seconds behind" in page
    assert f'href="/studio/issues/{issue_id}/analytics"' in page
    analytics = client.get(f"/studio/issues/{issue_id}/analytics").text
    assert "may be up to 30 seconds behind; the CSV downloads are exact" in analytics
