"""Per-issue stats as an editor reads them: rates, machine opens apart, small cells hidden,
the same numbers as CSV, and who may read them."""

import csv
import io

from app.accounts.models import Role
from app.delivery.models import DeliveryState
from tests.analytics.factories import (
    audience,
    events,
    excerpt_ids,
    link,
    sent_issue,
    set_state,
    votes,
)
from tests.conftest import make_api_key, make_user, make_user_token


def bulletin(engine):
    """120 recipients: 100 delivered, 12 bounced (5xx), 8 given up on (4xx); 30 people
    open, 25 more only through Apple's privacy proxy; 12 click (15 clicks on the first
    excerpt, 12 on the second) and a scanner clicks for 10."""
    ids = audience(engine, 120, "r")
    issue_id = sent_issue(engine, {"All staff": ids})
    set_state(engine, issue_id, ids[100:112], DeliveryState.failed, 550)
    set_state(engine, issue_id, ids[112:], DeliveryState.failed, 451)
    first, second = excerpt_ids(engine, issue_id)
    guide = link(engine, issue_id, first, "https://intranet.example.com/mail")
    events(engine, issue_id, ids[:30], "open")
    events(engine, issue_id, ids[:10], "open")  # opened twice: still 30 people
    events(engine, issue_id, ids[30:55], "open", machine=True)
    events(engine, issue_id, ids[:12], "click", link_id=guide)
    events(engine, issue_id, ids[:3], "click", link_id=guide)
    events(engine, issue_id, ids[30:40], "click", link_id=guide, machine=True)
    backlog = link(engine, issue_id, second, "https://tickets.example.com/queue")
    events(engine, issue_id, ids[:12], "click", link_id=backlog)
    events(engine, issue_id, ids[:3], "unsubscribe")
    votes(engine, issue_id, first, useful=15, not_useful=5)
    votes(engine, issue_id, second, useful=2, not_useful=1)
    return issue_id, first, second


def viewer_client(client, engine):
    user = make_user(engine, email="viewer@example.com", role=Role.viewer)
    client.headers["Authorization"] = f"Bearer {make_user_token(engine, user)}"
    return client


def test_a_viewer_reads_rates_with_machine_opens_apart_and_small_counts_hidden(client, engine):
    issue_id, _, _ = bulletin(engine)

    answer = viewer_client(client, engine).get(f"/api/v1/issues/{issue_id}/stats")

    assert answer.status_code == 200, answer.text
    body = answer.json()
    issue = body["issue"]
    assert body["min_cell"] == 10
    assert (issue["audience"], issue["delivered"], issue["failed"], issue["bounced"]) == (
        120,
        100,
        20,
        12,
    )
    assert issue["unique_opens_human"] == 30 and issue["open_rate_human"] == 0.3
    assert issue["unique_opens_raw"] == 55 and issue["open_rate_raw"] == 0.55
    assert (issue["clicks_raw"], issue["clicks_human"]) == (37, 27)
    assert (issue["unique_clickers_raw"], issue["unique_clickers_human"]) == (22, 12)
    assert issue["click_rate_human"] == 0.12
    assert issue["click_to_open_rate_human"] == 0.4  # 12 of 30 openers
    # Three unsubscribes: fewer than 10, so neither the count nor its rate is shown.
    assert issue["unsubscribes"] is None and issue["unsubscribe_rate"] is None
    assert issue["hidden"]["unsubscribes"] == "fewer than 10"
    assert issue["hidden"]["unsubscribe_rate"] == "fewer than 10"
    assert issue["feedback_votes"] == 23 and issue["feedback_useful"] == 17
    assert issue["feedback_useful_share"] == round(17 / 23, 4)


def test_csv_has_the_same_numbers_and_the_hidden_marker(client, engine):
    issue_id, _, _ = bulletin(engine)
    reader = viewer_client(client, engine)
    issue = reader.get(f"/api/v1/issues/{issue_id}/stats").json()["issue"]

    by_param = reader.get(f"/api/v1/issues/{issue_id}/stats?format=csv")
    by_accept = reader.get(f"/api/v1/issues/{issue_id}/stats", headers={"Accept": "text/csv"})

    assert by_param.headers["content-type"].startswith("text/csv")
    assert "attachment" in by_param.headers["content-disposition"]
    assert by_accept.text == by_param.text
    [row] = list(csv.DictReader(io.StringIO(by_param.text)))
    assert row["open_rate_human"] == "0.3" and row["delivered"] == "100"
    assert row["unsubscribes"] == "fewer than 10"
    for name, value in issue.items():
        if name in row:
            expected = issue["hidden"].get(name) or ("" if value is None else str(value))
            if name == "sent_at":
                continue
            assert row[name] == expected, name


def test_excerpts_count_their_own_clicks_and_votes(client, engine):
    issue_id, first, second = bulletin(engine)

    reader = viewer_client(client, engine)
    body = reader.get(f"/api/v1/issues/{issue_id}/stats/excerpts").json()

    rows = {row["excerpt_id"]: row for row in body["excerpts"]}
    assert rows[first]["headline"] == "Mail is faster" and rows[first]["position"] == 1
    assert rows[first]["delivered"] == 100
    assert (rows[first]["clicks_raw"], rows[first]["clicks_human"]) == (25, 15)
    assert rows[first]["unique_clickers_human"] == 12 and rows[first]["click_rate_human"] == 0.12
    assert rows[second]["clicks_human"] == 12
    # The second excerpt's 3 votes are fewer than 10.
    assert rows[second]["feedback_votes"] is None
    assert rows[second]["hidden"]["feedback_useful_share"] == "fewer than 10"
    # The first excerpt's votes would be the issue's 23 minus the hidden 3: hidden too.
    assert rows[first]["feedback_votes"] is None
    assert rows[first]["hidden"]["feedback_votes"].startswith("hidden: would reveal")
    assert rows[first]["feedback_useful_share"] is None
    exported = reader.get(f"/api/v1/issues/{issue_id}/stats/excerpts?format=csv")
    csv_rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["headline"] for r in csv_rows] == ["Mail is faster", "Backlog"]
    assert csv_rows[0]["clicks_human"] == "15" and csv_rows[1]["feedback_votes"] == "fewer than 10"


def test_stats_need_the_stats_read_scope(client, engine):
    issue_id, _, _ = bulletin(engine)
    url = f"/api/v1/issues/{issue_id}/stats"

    assert client.get(url).status_code == 401
    news_only = make_api_key(engine, "news:write", "issues:read")
    denied = client.get(url, headers={"Authorization": f"Bearer {news_only}"})
    assert denied.status_code == 403 and "stats:read" in denied.json()["detail"]
    reporting = make_api_key(engine, "stats:read")
    assert client.get(url, headers={"Authorization": f"Bearer {reporting}"}).status_code == 200
    trend = client.get("/api/v1/stats/trend", headers={"Authorization": f"Bearer {news_only}"})
    assert trend.status_code == 403


def test_unknown_issue_is_404_and_an_unsent_one_409(client, engine):
    reader = viewer_client(client, engine)
    assert reader.get("/api/v1/issues/999999/stats").status_code == 404
    from tests.delivery.factories import approved_issue, static_segment

    draft = approved_issue(engine, [static_segment(engine, "Few", audience(engine, 3, "d"))])
    for path in ("stats", "stats/segments", "stats/excerpts"):
        answer = reader.get(f"/api/v1/issues/{draft}/{path}")
        assert answer.status_code == 409
        assert "has not been sent" in answer.json()["detail"]
