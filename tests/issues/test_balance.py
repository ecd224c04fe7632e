"""The balance meter and stale warnings an editor sees while composing."""

from datetime import UTC, datetime, timedelta

from tests.issues.conftest import add_excerpt


def test_balance_counts_every_kind(client, people, draft, newsroom):
    for kind in ("win", "win", "open_work", "risk", "incident", "opportunity", "info"):
        add_excerpt(client, people["editor"], draft["id"], news_item_ids=[newsroom(kind)["id"]])
    balance = client.get(
        f"/api/v1/issues/{draft['id']}/balance", headers=people["viewer"].headers
    ).json()
    assert balance["counts"] == {
        "win": 2,
        "open_work": 1,
        "risk": 1,
        "incident": 1,
        "opportunity": 1,
        "info": 1,
    }
    assert balance["is_balanced"] is True and balance["missing"] == []


def test_an_empty_issue_misses_both(client, people, draft):
    balance = client.get(
        f"/api/v1/issues/{draft['id']}/balance", headers=people["viewer"].headers
    ).json()
    assert balance["is_balanced"] is False and balance["missing"] == ["win", "open_work"]


def test_excerpts_from_stale_news_are_flagged(client, people, draft, newsroom):
    fresh = newsroom("win", days_ago=1)
    old = newsroom("win", days_ago=200)  # far past the win window
    expired = newsroom(
        "open_work", days_ago=1, valid_until=(datetime.now(UTC) - timedelta(hours=1)).isoformat()
    )
    add_excerpt(client, people["editor"], draft["id"], news_item_ids=[fresh["id"]])
    add_excerpt(client, people["editor"], draft["id"], news_item_ids=[old["id"]])
    issue = add_excerpt(client, people["editor"], draft["id"], news_item_ids=[expired["id"]])

    flags = {e["news_item_ids"][0]: e["is_stale"] for s in issue["sections"] for e in s["excerpts"]}
    assert flags == {fresh["id"]: False, old["id"]: True, expired["id"]: True}
    stale_ids = {e["id"] for s in issue["sections"] for e in s["excerpts"] if e["is_stale"]}
    assert set(issue["balance"]["stale_excerpt_ids"]) == stale_ids
