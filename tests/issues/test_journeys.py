"""PRODUCT.md journeys 1 and 2 end to end through the API, with a real webhook receiver.

1. A monitoring service posts "incident resolved" and a ticketing service posts "backlog of
   licence requests" with an API key; both appear in the inbox, classified.
2. The editor opens the next issue from the calendar, adds excerpts from the inbox, reorders
   them, writes the management framing for one, sees the balance meter and a stale warning,
   and submits it for approval; an approver (someone else) approves and schedules it.
"""

import json
from datetime import UTC, datetime, timedelta

from app.webhooks.signing import verify_signature
from tests.conftest import make_api_key
from tests.receiver import wait_until


def test_from_news_intake_to_an_approved_scheduled_bulletin(
    client, engine, people, segments, receiver
):
    admin, editor, approver = people["admin"], people["editor"], people["approver"]
    hook = client.post(
        "/api/v1/webhooks", headers=admin.headers, json={"url": receiver.url(), "events": ["*"]}
    ).json()

    # Journey 1: two systems report, each with its own key.
    monitoring = {"Authorization": f"Bearer {make_api_key(engine, 'news:write', name='mon')}"}
    ticketing = {"Authorization": f"Bearer {make_api_key(engine, 'news:write', name='tkt')}"}
    now = datetime.now(UTC)
    resolved = client.post(
        "/api/v1/news-items",
        headers=monitoring,
        json={
            "source": "monitoring",
            "external_id": "INC-2031",
            "kind": "win",
            "theme": "Email",
            "title": "Mail delays resolved",
            "body": "Queue drained in **14 minutes**.",
            "occurred_at": now.isoformat(),
            "suggested_segments": ["All staff"],
        },
    ).json()
    backlog = client.post(
        "/api/v1/news-items",
        headers=ticketing,
        json={
            "source": "ticketing",
            "external_id": "Q-LIC",
            "kind": "open_work",
            "theme": "Licensing",
            "title": "Backlog of licence requests",
            "body": "63 requests wait longer than 5 days.",
            "key_figures": [{"label": "waiting", "value": 63}],
            "occurred_at": (now - timedelta(days=120)).isoformat(),
        },
    ).json()
    inbox = client.get("/api/v1/news-items", headers=editor.headers).json()["items"]
    assert {(i["title"], i["kind"]) for i in inbox} == {
        ("Mail delays resolved", "win"),
        ("Backlog of licence requests", "open_work"),
    }

    # Journey 2: the next issue from the calendar.
    client.put(
        "/api/v1/calendar",
        headers=admin.headers,
        json={"default_segment_ids": list(segments.values())},
    )
    next_issue = client.get("/api/v1/calendar", headers=editor.headers).json()["upcoming"][0]
    issue_url = f"/api/v1/issues/{next_issue['id']}"
    offers = client.get(f"{issue_url}/suggestions", headers=editor.headers).json()
    assert [o["news_item_id"] for o in offers] == [resolved["id"]]  # the backlog is stale

    for item in (resolved, backlog):
        assert (
            client.post(
                f"{issue_url}/excerpts",
                headers=editor.headers,
                json={"news_item_ids": [item["id"]]},
            ).status_code
            == 201
        )
    issue = client.get(issue_url, headers=editor.headers).json()
    sections = {s["title"]: s["id"] for s in issue["sections"]}
    issue = client.put(
        f"{issue_url}/sections/order",
        headers=editor.headers,
        json={"ids": [sections["Licensing"], sections["Email"]]},
    ).json()
    assert [s["title"] for s in issue["sections"]] == ["Licensing", "Email"]

    backlog_excerpt = issue["sections"][0]["excerpts"][0]
    issue = client.put(
        f"{issue_url}/excerpts/{backlog_excerpt['id']}/framings/{segments['Top management']}",
        headers=editor.headers,
        json={"body": "Risk: unlicensed use while requests wait; 2 FTE would clear it."},
    ).json()

    balance = issue["balance"]
    assert balance["counts"]["win"] == 1 and balance["counts"]["open_work"] == 1
    assert balance["is_balanced"] is True
    assert balance["stale_excerpt_ids"] == [backlog_excerpt["id"]]

    submitted = client.post(f"{issue_url}/submit", headers=editor.headers)
    assert submitted.json()["status"] == "in_review"
    assert client.post(f"{issue_url}/approve", headers=approver.headers).status_code == 200
    send_at = (now + timedelta(days=3)).isoformat()
    scheduled = client.post(
        f"{issue_url}/schedule", headers=approver.headers, json={"send_at": send_at}
    ).json()
    assert scheduled["status"] == "scheduled"

    # The configured webhook heard each step, signed.
    wait_until(lambda: len(receiver.requests) >= 4)
    events = [json.loads(r.body)["event"] for r in receiver.requests]
    assert sorted(events) == [
        "issue.approved",
        "issue.submitted",
        "news_item.created",
        "news_item.created",
    ]
    secret = hook["secret"]
    for request in receiver.requests:
        assert verify_signature(secret, request.headers["x-drumbeat-signature"], request.body)
