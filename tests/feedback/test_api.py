"""The feedback inbox over the API: listed for people who may read it, triaged and audited."""

from sqlalchemy import select
from sqlmodel import Session

from app.accounts.models import Role
from app.audit.models import AuditEntry
from tests.conftest import make_api_key, make_user, make_user_token
from tests.feedback.conftest import VALID_IDEA


def as_user(client, engine, role: Role, email: str):
    token = make_user_token(engine, make_user(engine, email=email, role=role))
    return {"Authorization": f"Bearer {token}"}


def test_submissions_are_listed_filtered_and_paged(client, engine, send_form):
    send_form(VALID_IDEA)
    send_form({"kind": "praise", "message": "Thanks for the flash"})
    send_form({**VALID_IDEA, "kind": "complaint"})
    viewer = as_user(client, engine, Role.viewer, "viewer@example.com")

    everything = client.get("/api/v1/feedback", headers=viewer).json()
    assert [i["kind"] for i in everything["items"]] == ["complaint", "praise", "idea"]
    assert everything["next_before_id"] is None
    assert everything["items"][2]["problem"] == VALID_IDEA["problem"]

    ideas = client.get("/api/v1/feedback?kind=idea", headers=viewer).json()["items"]
    assert [i["kind"] for i in ideas] == ["idea"]
    first = client.get("/api/v1/feedback?limit=2", headers=viewer).json()
    assert len(first["items"]) == 2 and first["next_before_id"] is not None
    rest = client.get(
        f"/api/v1/feedback?limit=2&before_id={first['next_before_id']}", headers=viewer
    ).json()
    assert [i["kind"] for i in rest["items"]] == ["idea"] and rest["next_before_id"] is None
    bad = client.get("/api/v1/feedback?status=maybe", headers=viewer)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "status"


def test_triage_sets_status_and_note_audited_and_needs_the_permission(client, engine, send_form):
    send_form(VALID_IDEA)
    viewer = as_user(client, engine, Role.viewer, "viewer@example.com")
    editor = as_user(client, engine, Role.editor, "editor@example.com")
    [item] = client.get("/api/v1/feedback", headers=viewer).json()["items"]
    change = {"status": "accepted", "note": "Self-service reset planned for Q1"}

    assert (
        client.patch(f"/api/v1/feedback/{item['id']}", json=change, headers=viewer).status_code
        == 403
    )
    accepted = client.patch(f"/api/v1/feedback/{item['id']}", json=change, headers=editor)
    assert accepted.status_code == 200
    assert accepted.json()["status"] == "accepted"
    assert accepted.json()["status_note"] == change["note"]
    assert accepted.json()["status_changed_by"] == "editor@example.com"
    listed = client.get("/api/v1/feedback?status=accepted", headers=viewer).json()["items"]
    assert [i["id"] for i in listed] == [item["id"]]
    assert client.get("/api/v1/feedback?status=new", headers=viewer).json()["items"] == []

    wrong = client.patch(f"/api/v1/feedback/{item['id']}", json={"status": "maybe"}, headers=editor)
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "status"
    missing = client.patch("/api/v1/feedback/999999", json=change, headers=editor)
    assert missing.status_code == 404
    with Session(engine) as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "feedback.triaged")
        ).one()
    assert (entry.object_id, entry.actor_label) == (str(item["id"]), "editor@example.com")
    assert entry.details == {"from": "new", "to": "accepted", "note": change["note"]}


def test_keys_without_admin_and_anonymous_callers_cannot_read_the_inbox(client, engine):
    assert client.get("/api/v1/feedback").status_code == 401
    key = make_api_key(engine, "issues:read", "stats:read")
    answer = client.get("/api/v1/feedback", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 403


def test_the_studio_lists_the_inbox_for_signed_in_people(client, engine, send_form):
    send_form({"kind": "praise", "message": "Nice <script>alert(1)</script> bulletin"})
    assert client.get("/studio/feedback", follow_redirects=False).status_code in (303, 307)
    make_user(engine, email="viewer@example.com", role=Role.viewer)
    login = client.get("/studio/login")
    csrf = login.text.split('name="csrf_token" value="')[1].split('"')[0]
    client.post(
        "/studio/login",
        data={
            "email": "viewer@example.com",
            "password": "correct horse battery",
            "csrf_token": csrf,
        },
    )
    page = client.get("/studio/feedback")
    assert page.status_code == 200 and "Feedback inbox" in page.text
    assert "Nice &lt;script&gt;alert(1)&lt;/script&gt; bulletin" in page.text
    assert "<script>alert" not in page.text
