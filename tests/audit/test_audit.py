"""The audit log records who changed what, and cannot be rewritten."""

import pytest
from sqlalchemy import select

from app.audit.models import AuditEntry


def test_changes_through_the_api_are_recorded_with_their_actor(api, session):
    writer = api("subscribers:write", "subscribers:read")
    created = writer.post("/api/v1/subscribers", json={"email": "ada@example.com"}).json()
    writer.patch(f"/api/v1/subscribers/{created['id']}", json={"name": "Ada"})
    writer.delete(f"/api/v1/subscribers/{created['id']}")

    entries = session.scalars(
        select(AuditEntry).where(AuditEntry.object_type == "subscriber").order_by(AuditEntry.id)
    ).all()
    assert [e.action for e in entries] == [
        "subscriber.created",
        "subscriber.updated",
        "subscriber.deleted",
    ]
    assert {e.object_id for e in entries} == {str(created["id"])}
    assert all(
        e.actor_kind == "api_key" and e.actor_label.startswith("api key test key") for e in entries
    )
    assert entries[1].details == {"fields": ["name"]}


def test_a_failed_change_leaves_no_audit_entry(api, session):
    writer = api("subscribers:write")
    writer.post("/api/v1/subscribers", json={"email": "ada@example.com"})
    duplicate = writer.post("/api/v1/subscribers", json={"email": "ADA@example.com"})
    assert duplicate.status_code == 409
    actions = session.scalars(
        select(AuditEntry.action).where(AuditEntry.object_type == "subscriber")
    ).all()
    assert actions == ["subscriber.created"]


def test_entries_cannot_be_edited_or_deleted(admin_api, session):
    admin_api.post("/api/v1/subscribers", json={"email": "ada@example.com"})
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "subscriber.created"))
    entry.action = "nothing.happened"
    with pytest.raises(RuntimeError, match="append-only"):
        session.flush()
    session.rollback()
    session.delete(session.merge(entry))
    with pytest.raises(RuntimeError, match="append-only"):
        session.flush()


def test_admins_read_the_log_newest_first(admin_api, api):
    admin_api.post("/api/v1/subscribers", json={"email": "a@example.com"})
    admin_api.post("/api/v1/subscribers", json={"email": "b@example.com"})
    entries = admin_api.get("/api/v1/audit", params={"action": "subscriber.created"}).json()
    assert len(entries) == 2 and entries[0]["id"] > entries[1]["id"]
    older = admin_api.get(
        "/api/v1/audit", params={"before_id": entries[0]["id"], "action": "subscriber.created"}
    ).json()
    assert [e["id"] for e in older] == [entries[1]["id"]]
    assert api("subscribers:read").get("/api/v1/audit").status_code == 403
