"""The segments API: CRUD, live counts, preview, static members, scopes and the audit log."""

import pytest
from sqlalchemy import select
from sqlmodel import Session

from app.audit.models import AuditEntry
from app.segments.models import Segment
from app.subscribers.models import Subscriber

SEGMENTS = "/api/v1/segments"
READ_WRITE = ("subscribers:read", "subscribers:write")
FINANCE_IN_BERLIN = {
    "all": [
        {"field": "department", "op": "eq", "value": "Finance"},
        {"field": "location", "op": "eq", "value": "Berlin"},
    ]
}


def add_subscriber(
    session: Session, email: str, *, status: str = "active", **attributes: str
) -> Subscriber:
    subscriber = Subscriber(email=email, status=status, attributes=attributes)
    session.add(subscriber)
    session.commit()
    return subscriber


def create_segment(client, name: str = "Finance in Berlin", **fields) -> dict:
    body = {"name": name, "rule": FINANCE_IN_BERLIN} | fields
    response = client.post(SEGMENTS, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def counts(segment: dict) -> tuple[int, int]:
    return segment["member_count"], segment["active_count"]


@pytest.fixture
def berlin(session):
    add_subscriber(session, "anna@example.com", department="Finance", location="Berlin")
    add_subscriber(session, "ben@example.com", department="finance", location="berlin")
    add_subscriber(
        session, "clara@example.com", status="unsubscribed", department="Finance", location="Berlin"
    )
    add_subscriber(session, "david@example.com", department="Finance", location="Munich")
    add_subscriber(session, "elif@example.com", department="Sales", location="Berlin")


def test_create_get_list_update_delete(api, berlin):
    client = api(*READ_WRITE)
    created = create_segment(client, description="Two conditions")
    assert created["name"] == "Finance in Berlin"
    assert created["kind"] == "rule"
    assert created["rule"] == FINANCE_IN_BERLIN
    assert counts(created) == (3, 2)

    fetched = client.get(f"{SEGMENTS}/{created['id']}").json()
    assert fetched == created
    create_segment(client, "All Berlin", rule={"all": [FINANCE_IN_BERLIN["all"][1]]})
    assert [s["name"] for s in client.get(SEGMENTS).json()] == ["All Berlin", "Finance in Berlin"]

    changed = client.patch(
        f"{SEGMENTS}/{created['id']}",
        json={
            "name": "Berlin finance, active",
            "description": "",
            "rule": {
                "all": [
                    *FINANCE_IN_BERLIN["all"],
                    {"field": "status", "op": "eq", "value": "active"},
                ]
            },
        },
    )
    assert changed.status_code == 200
    assert changed.json()["name"] == "Berlin finance, active"
    assert changed.json()["description"] == ""
    assert counts(changed.json()) == (2, 2)

    assert client.delete(f"{SEGMENTS}/{created['id']}").status_code == 204
    assert client.get(f"{SEGMENTS}/{created['id']}").status_code == 404
    assert [s["name"] for s in client.get(SEGMENTS).json()] == ["All Berlin"]


def test_unknown_segment_is_404(api):
    client = api(*READ_WRITE)
    assert client.get(f"{SEGMENTS}/999").status_code == 404
    assert client.patch(f"{SEGMENTS}/999", json={"description": "x"}).status_code == 404
    assert client.delete(f"{SEGMENTS}/999").status_code == 404


def test_counts_are_live(api):
    client = api(*READ_WRITE)
    segment = create_segment(client)
    url = f"{SEGMENTS}/{segment['id']}"
    assert counts(segment) == (0, 0)

    def subscribe(email: str, **attributes: str) -> int:
        response = client.post(
            "/api/v1/subscribers", json={"email": email, "attributes": attributes}
        )
        assert response.status_code == 201, response.text
        return response.json()["id"]

    anna = subscribe("anna@example.com", department="Finance", location="Berlin")
    assert counts(client.get(url).json()) == (1, 1)
    subscribe("ben@example.com", department="FINANCE", location="Berlin")
    subscribe("clara@example.com", department="Finance", location="Hamburg")
    assert counts(client.get(url).json()) == (2, 2)

    unsubscribed = client.patch(f"/api/v1/subscribers/{anna}", json={"status": "unsubscribed"})
    assert unsubscribed.status_code == 200
    assert counts(client.get(url).json()) == (2, 1)
    assert counts(client.get(SEGMENTS).json()[0]) == (2, 1)

    moved = client.patch(f"/api/v1/subscribers/{anna}", json={"attributes": {"location": "Munich"}})
    assert moved.status_code == 200
    assert counts(client.get(url).json()) == (1, 1)


def test_preview_counts_and_samples_before_saving(api, session, berlin):
    for n in range(25):
        add_subscriber(session, f"it{n:02}@example.com", department="IT", location="Berlin")
    client = api("subscribers:read")

    finance = client.post(f"{SEGMENTS}/preview", json=FINANCE_IN_BERLIN).json()
    assert counts(finance) == (3, 2)
    assert [s["email"] for s in finance["sample"]] == [
        "anna@example.com",
        "ben@example.com",
        "clara@example.com",
    ]

    it = client.post(
        f"{SEGMENTS}/preview", json={"all": [{"field": "department", "op": "eq", "value": "it"}]}
    ).json()
    assert counts(it) == (25, 25)
    assert [s["email"] for s in it["sample"]] == [f"it{n:02}@example.com" for n in range(20)]

    assert client.get(SEGMENTS).json() == []
    assert session.scalars(select(Segment)).all() == []


def test_members_preview_of_a_saved_segment(api, berlin):
    client = api(*READ_WRITE)
    segment = create_segment(client)
    response = client.get(f"{SEGMENTS}/{segment['id']}/members", params={"limit": 2})
    assert [s["email"] for s in response.json()] == ["anna@example.com", "ben@example.com"]
    too_many = client.get(f"{SEGMENTS}/{segment['id']}/members", params={"limit": 201})
    assert too_many.status_code == 422


def test_static_segment_members(api, session, berlin):
    client = api(*READ_WRITE)
    segment = create_segment(client, "Pilot group", kind="static", rule=None)
    assert segment["kind"] == "static"
    assert segment["rule"] is None
    assert counts(segment) == (0, 0)
    url = f"{SEGMENTS}/{segment['id']}/members"

    added = client.post(
        url,
        json={
            "emails": [
                "Anna@Example.com",
                "nobody@example.com",
                "not an address",
                "clara@example.com",
                "anna@example.com",
            ]
        },
    )
    assert added.status_code == 200
    body = added.json()
    assert [r["field"] for r in body["rejected"]] == ["emails.2", "emails.1"]
    assert "nobody@example.com" in body["rejected"][1]["reason"]
    assert counts(body["segment"]) == (2, 1)

    # Adding someone twice changes nothing.
    again = client.post(url, json={"emails": ["anna@example.com"]}).json()
    assert again["rejected"] == []
    assert counts(again["segment"]) == (2, 1)

    anna = session.scalar(select(Subscriber.id).where(Subscriber.email == "anna@example.com"))
    assert client.delete(f"{url}/{anna}").status_code == 204
    assert counts(client.get(f"{SEGMENTS}/{segment['id']}").json()) == (1, 0)
    assert [s["email"] for s in client.get(url).json()] == ["clara@example.com"]
    assert client.delete(f"{url}/{anna}").status_code == 404


def test_static_segment_follows_subscriber_deletion(api, session, berlin):
    client = api(*READ_WRITE)
    segment = create_segment(client, "Pilot group", kind="static", rule=None)
    url = f"{SEGMENTS}/{segment['id']}"
    client.post(f"{url}/members", json={"emails": ["anna@example.com", "ben@example.com"]})
    anna = session.scalar(select(Subscriber.id).where(Subscriber.email == "anna@example.com"))
    assert client.delete(f"/api/v1/subscribers/{anna}").status_code == 204
    assert counts(client.get(url).json()) == (1, 1)

    # Deleting the segment leaves its subscribers alone.
    assert client.delete(url).status_code == 204
    assert len(session.scalars(select(Subscriber)).all()) == 4


def test_a_static_segment_takes_no_rule(api):
    client = api(*READ_WRITE)
    response = client.post(
        SEGMENTS, json={"name": "Pilot group", "kind": "static", "rule": FINANCE_IN_BERLIN}
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "rule", "reason": "a static segment has members, not a rule"}
    ]

    segment = create_segment(client, "Pilot group", kind="static", rule=None)
    patched = client.patch(f"{SEGMENTS}/{segment['id']}", json={"rule": FINANCE_IN_BERLIN})
    assert patched.status_code == 422
    assert patched.json()["errors"][0]["field"] == "rule"


def test_a_rule_segment_needs_a_rule_and_takes_no_members(api, berlin):
    client = api(*READ_WRITE)
    missing = client.post(SEGMENTS, json={"name": "Everyone"})
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "rule"

    segment = create_segment(client)
    url = f"{SEGMENTS}/{segment['id']}"
    assert client.patch(url, json={"rule": None}).status_code == 422
    assert client.post(f"{url}/members", json={"emails": ["elif@example.com"]}).status_code == 409
    assert client.delete(f"{url}/members/1").status_code == 409
    assert counts(client.get(url).json()) == (3, 2)


def test_names_are_unique_ignoring_case(api):
    client = api(*READ_WRITE)
    first = create_segment(client, "  Finance in Berlin ")
    assert first["name"] == "Finance in Berlin"

    clash = client.post(SEGMENTS, json={"name": "FINANCE IN BERLIN", "rule": FINANCE_IN_BERLIN})
    assert clash.status_code == 409
    assert clash.json()["errors"] == [{"field": "name", "reason": "already taken"}]

    other = create_segment(client, "Key users")
    renamed = client.patch(f"{SEGMENTS}/{other['id']}", json={"name": "finance in berlin"})
    assert renamed.status_code == 409

    # A segment may change the case of its own name.
    recased = client.patch(f"{SEGMENTS}/{first['id']}", json={"name": "FINANCE in Berlin"})
    assert recased.status_code == 200
    assert recased.json()["name"] == "FINANCE in Berlin"


@pytest.mark.parametrize("name", ["", "   ", None])
def test_a_segment_needs_a_name(api, name):
    client = api(*READ_WRITE)
    if name is not None:
        created = client.post(SEGMENTS, json={"name": name, "rule": FINANCE_IN_BERLIN})
        assert created.status_code == 422
        assert created.json()["errors"][0]["field"] == "name"
    segment = create_segment(client)
    renamed = client.patch(f"{SEGMENTS}/{segment['id']}", json={"name": name})
    assert renamed.status_code == 422
    assert renamed.json()["errors"][0]["field"] == "name"
    assert client.get(f"{SEGMENTS}/{segment['id']}").json()["name"] == "Finance in Berlin"


def test_reading_needs_the_read_scope_and_writing_the_write_scope(api, session, berlin):
    writer = api(*READ_WRITE)
    segment = create_segment(writer)
    url = f"{SEGMENTS}/{segment['id']}"

    reader = api("subscribers:read")
    assert reader.get(SEGMENTS).status_code == 200
    assert reader.get(url).status_code == 200
    assert reader.get(f"{url}/members").status_code == 200
    assert reader.post(f"{SEGMENTS}/preview", json=FINANCE_IN_BERLIN).status_code == 200
    refused = [
        reader.post(SEGMENTS, json={"name": "Mine", "rule": FINANCE_IN_BERLIN}),
        reader.patch(url, json={"name": "Mine"}),
        reader.delete(url),
        reader.post(f"{url}/members", json={"emails": ["anna@example.com"]}),
        reader.delete(f"{url}/members/1"),
    ]
    assert [r.status_code for r in refused] == [403] * 5
    assert "subscribers:write" in refused[0].json()["detail"]

    assert api("news:write").get(SEGMENTS).status_code == 403
    assert session.scalars(select(Segment.name)).all() == ["Finance in Berlin"]


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-key", "Basic dXNlcjpwYXNz"])
def test_without_a_valid_key_every_call_is_401(client, authorization):
    if authorization:
        client.headers["Authorization"] = authorization
    calls = [
        client.get(SEGMENTS),
        client.get(f"{SEGMENTS}/1"),
        client.post(SEGMENTS, json={"name": "x", "rule": FINANCE_IN_BERLIN}),
        client.post(f"{SEGMENTS}/preview", json=FINANCE_IN_BERLIN),
        client.delete(f"{SEGMENTS}/1"),
    ]
    assert [r.status_code for r in calls] == [401] * 5
    assert calls[0].headers["content-type"] == "application/problem+json"


def test_changes_are_audited(api, session, berlin):
    client = api(*READ_WRITE)
    rule_segment = create_segment(client)
    client.patch(f"{SEGMENTS}/{rule_segment['id']}", json={"description": "Quarterly close"})
    static = create_segment(client, "Pilot group", kind="static", rule=None)
    client.post(f"{SEGMENTS}/{static['id']}/members", json={"emails": ["anna@example.com"]})
    anna = session.scalar(select(Subscriber.id).where(Subscriber.email == "anna@example.com"))
    client.delete(f"{SEGMENTS}/{static['id']}/members/{anna}")
    client.delete(f"{SEGMENTS}/{rule_segment['id']}")
    # Reads and refused writes leave no trace.
    client.get(SEGMENTS)
    client.post(SEGMENTS, json={"name": "pilot GROUP ", "kind": "static"})

    entries = session.scalars(
        select(AuditEntry).where(AuditEntry.object_type == "segment").order_by(AuditEntry.id)
    ).all()
    assert [(e.action, e.object_id) for e in entries] == [
        ("segment.created", str(rule_segment["id"])),
        ("segment.updated", str(rule_segment["id"])),
        ("segment.created", str(static["id"])),
        ("segment.members_added", str(static["id"])),
        ("segment.member_removed", str(static["id"])),
        ("segment.deleted", str(rule_segment["id"])),
    ]
    assert {e.actor_kind for e in entries} == {"api_key"}
    assert entries[0].details == {"name": "Finance in Berlin"}
    assert entries[1].details == {"fields": ["description"]}
    assert entries[3].details == {"added": 1}
    assert entries[4].details == {"subscriber_id": anna}
