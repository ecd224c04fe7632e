"""The publishing calendar keeps the next issues planned at the cadence."""

from datetime import date, timedelta
from itertools import pairwise

from app.issues.calendar import next_weekday
from app.issues.service import today


def test_next_weekday_counts_today():
    thursday = date(2026, 11, 26)
    assert next_weekday(thursday, 3) == thursday
    assert next_weekday(thursday, 4) == date(2026, 11, 27)
    assert next_weekday(thursday, 2) == date(2026, 12, 2)


def test_planning_creates_issues_at_the_cadence_and_is_idempotent(client, people, segments):
    editor = people["editor"].headers
    assert client.get("/api/v1/calendar", headers=editor).json()["upcoming"] == []

    planned = client.post("/api/v1/calendar/plan", headers=editor).json()
    dates = [date.fromisoformat(i["planned_date"]) for i in planned["upcoming"]]
    assert len(dates) == 3
    assert all(d.weekday() == 3 for d in dates)  # Thursdays, the default
    assert dates[0] >= today() and dates[0] - today() < timedelta(days=7)
    assert [b - a for a, b in pairwise(dates)] == [timedelta(days=14)] * 2
    assert [i["title"] for i in planned["upcoming"]] == [
        f"IT bulletin #{i['number']}" for i in planned["upcoming"]
    ]

    again = client.post("/api/v1/calendar/plan", headers=editor).json()
    assert [i["id"] for i in again["upcoming"]] == [i["id"] for i in planned["upcoming"]]


def test_reading_the_calendar_changes_nothing(client, people):
    viewer = people["viewer"].headers
    client.get("/api/v1/calendar", headers=viewer)
    assert client.get("/api/v1/issues", headers=viewer).json() == []


def test_admin_changes_the_cadence_and_defaults(client, people, segments):
    admin = people["admin"].headers
    changed = client.put(
        "/api/v1/calendar",
        headers=admin,
        json={
            "cadence_days": 7,
            "weekday": 1,
            "plan_ahead": 4,
            "default_owner_id": people["editor"].user_id,
            "default_segment_ids": [segments["All staff"]],
            "title_template": "Drumbeat {number}",
        },
    )
    assert changed.status_code == 200, changed.text
    upcoming = changed.json()["upcoming"]
    dates = [date.fromisoformat(i["planned_date"]) for i in upcoming]
    assert len(dates) == 4 and all(d.weekday() == 1 for d in dates)
    assert {b - a for a, b in pairwise(dates)} == {timedelta(days=7)}
    assert {i["owner_id"] for i in upcoming} == {people["editor"].user_id}
    detail = client.get(f"/api/v1/issues/{upcoming[0]['id']}", headers=admin).json()
    assert detail["segment_ids"] == [segments["All staff"]]
    assert detail["title"].startswith("Drumbeat ")

    assert (
        client.put(
            "/api/v1/calendar", headers=people["editor"].headers, json={"cadence_days": 7}
        ).status_code
        == 403
    )
    bad = client.put("/api/v1/calendar", headers=admin, json={"weekday": 9})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "weekday"
    unknown = client.put("/api/v1/calendar", headers=admin, json={"default_segment_ids": [999]})
    assert unknown.json()["errors"][0]["field"] == "default_segment_ids.0"


def test_a_cancelled_issue_is_replaced_in_the_plan(client, people):
    planned = client.post("/api/v1/calendar/plan", headers=people["editor"].headers).json()
    first = planned["upcoming"][0]
    client.post(f"/api/v1/issues/{first['id']}/cancel", headers=people["approver"].headers)
    replanned = client.post("/api/v1/calendar/plan", headers=people["editor"].headers).json()
    assert len(replanned["upcoming"]) == 3
    assert first["id"] not in [i["id"] for i in replanned["upcoming"]]
