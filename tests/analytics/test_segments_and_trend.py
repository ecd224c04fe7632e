"""Per segment (a small one hidden, and the cell that would give it away) and the trend."""

import csv
import io

from app.analytics import service as stats
from app.db import unit_of_work
from tests.analytics.factories import audience, events, sent_issue
from tests.delivery.factories import approved_issue, static_segment


def test_a_segment_of_seven_is_hidden_and_so_is_the_cell_that_would_reveal_it(api, engine):
    managers, staff, finance = (
        audience(engine, 7, "m"),
        audience(engine, 50, "s"),
        audience(engine, 40, "f"),
    )
    issue_id = sent_issue(engine, {"Managers": managers, "Staff": staff, "Finance": finance})
    events(engine, issue_id, managers[:5] + staff[:20] + finance[:15], "open")
    client = api("stats:read")

    body = client.get(f"/api/v1/issues/{issue_id}/stats/segments").json()

    rows = {row["segment_name"]: row for row in body["segments"]}
    assert set(rows) == {"Managers", "Staff", "Finance"}
    assert rows["Managers"]["audience"] is None and rows["Managers"]["unique_opens_human"] is None
    assert rows["Managers"]["hidden"]["audience"] == "fewer than 10"
    assert rows["Managers"]["hidden"]["open_rate_human"] == "fewer than 10"
    assert rows["Staff"]["audience"] == 50 and rows["Staff"]["open_rate_human"] == 0.4
    # Finance is the smallest other segment: the total (97) minus Staff minus Finance would
    # be the managers' figure, so Finance's cells are withheld too.
    assert rows["Finance"]["audience"] is None
    assert rows["Finance"]["hidden"]["audience"].startswith("hidden: would reveal")
    issue = client.get(f"/api/v1/issues/{issue_id}/stats").json()["issue"]
    assert issue["audience"] == 97 and issue["unique_opens_human"] == 40

    exported = client.get(f"/api/v1/issues/{issue_id}/stats/segments?format=csv").text
    by_name = {row["segment_name"]: row for row in csv.DictReader(io.StringIO(exported))}
    assert by_name["Managers"]["audience"] == "fewer than 10"
    assert by_name["Staff"]["open_rate_human"] == "0.4" and by_name["Staff"]["delivered"] == "50"


def test_a_recipient_in_two_segments_counts_in_both(api, engine):
    both, only_a, only_b = (
        audience(engine, 15, "b"),
        audience(engine, 15, "a"),
        audience(engine, 15, "c"),
    )
    issue_id = sent_issue(engine, {"Key users": both + only_a, "ITSM": both + only_b})
    events(engine, issue_id, both + only_a[:10], "open")

    body = api("stats:read").get(f"/api/v1/issues/{issue_id}/stats").json()

    rows = {row["segment_name"]: row for row in body["segments"]}
    assert rows["Key users"]["audience"] == 30 and rows["Key users"]["unique_opens_human"] == 25
    assert rows["ITSM"]["audience"] == 30 and rows["ITSM"]["unique_opens_human"] == 15
    assert body["issue"]["audience"] == 45 and body["issue"]["unique_opens_human"] == 25


def test_the_trend_lists_the_last_sent_issues_oldest_first(api, engine):
    issue_ids = []
    for number, openers in enumerate((10, 20, 30)):
        people_ = audience(engine, 100, f"t{number}")
        issue_id = sent_issue(engine, {f"All {number}": people_}, title=f"Bulletin {number}")
        events(engine, issue_id, people_[:openers], "open")
        issue_ids.append(issue_id)

    answer = api("stats:read").get("/api/v1/stats/trend?last=2")

    assert answer.status_code == 200
    rows = answer.json()["issues"]
    assert [row["title"] for row in rows] == ["Bulletin 1", "Bulletin 2"]
    assert [row["open_rate_human"] for row in rows] == [0.2, 0.3]
    exported = api("stats:read").get("/api/v1/stats/trend?last=3", headers={"Accept": "text/csv"})
    table = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["open_rate_human"] for r in table] == ["0.1", "0.2", "0.3"]
    assert api("stats:read").get("/api/v1/stats/trend?last=0").status_code == 422


def test_the_trend_leaves_out_issues_not_sent(engine):
    people_ = audience(engine, 20, "u")
    sent = sent_issue(engine, {"All": people_})
    approved_issue(engine, [static_segment(engine, "Later", people_)])

    with unit_of_work(engine) as session:
        report = stats.trend(session, last=10, min_cell=10)

    assert [row.issue_id for row in report.issues] == [sent]
