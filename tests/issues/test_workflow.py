"""draft -> in_review -> approved -> scheduled, with the balance rule and four eyes."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlmodel import Session

from app.accounts.models import Role, User
from app.audit.models import AuditEntry
from tests.issues.conftest import add_excerpt


def post(client, person, issue_id, verb, body=None):
    return client.post(f"/api/v1/issues/{issue_id}/{verb}", json=body or {}, headers=person.headers)


def balanced(client, people, issue_id, newsroom):
    add_excerpt(client, people["editor"], issue_id, news_item_ids=[newsroom("win")["id"]])
    add_excerpt(client, people["editor"], issue_id, news_item_ids=[newsroom("open_work")["id"]])


def test_submit_approve_schedule(client, people, draft, newsroom, session):
    balanced(client, people, draft["id"], newsroom)
    submitted = post(client, people["editor"], draft["id"], "submit")
    assert submitted.status_code == 200 and submitted.json()["status"] == "in_review"
    assert submitted.json()["submitted_by_id"] == people["editor"].user_id

    approved = post(client, people["approver"], draft["id"], "approve")
    assert approved.json()["status"] == "approved"
    assert approved.json()["approved_by_id"] == people["approver"].user_id

    send_at = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    scheduled = post(client, people["approver"], draft["id"], "schedule", {"send_at": send_at})
    assert scheduled.json()["status"] == "scheduled" and scheduled.json()["send_at"]

    actions = session.scalars(
        select(AuditEntry.action)
        .where(AuditEntry.action.in_(["issue.submitted", "issue.approved", "issue.scheduled"]))
        .order_by(AuditEntry.id)
    ).all()
    assert actions == ["issue.submitted", "issue.approved", "issue.scheduled"]


def test_an_issue_without_open_work_needs_a_written_reason(
    client, people, draft, newsroom, session
):
    add_excerpt(client, people["editor"], draft["id"], news_item_ids=[newsroom("win")["id"]])
    refused = post(client, people["editor"], draft["id"], "submit")
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "override_reason"
    assert "no open work" in refused.json()["detail"]
    assert (
        post(
            client, people["editor"], draft["id"], "submit", {"override_reason": "short"}
        ).status_code
        == 422
    )

    reason = "Quiet fortnight: every ticket closed, nothing open to report."
    submitted = post(client, people["editor"], draft["id"], "submit", {"override_reason": reason})
    assert submitted.status_code == 200
    assert submitted.json()["balance_override_reason"] == reason
    approver_refused = post(client, people["approver"], draft["id"], "approve")
    assert approver_refused.status_code == 422
    approved = post(
        client,
        people["approver"],
        draft["id"],
        "approve",
        {"override_reason": "Agreed: a quiet fortnight, nothing hidden."},
    )
    assert approved.status_code == 200
    logged = session.scalars(select(AuditEntry).where(AuditEntry.action == "issue.submitted"))
    assert [e.details["override_reason"] for e in logged] == [reason]


def test_no_wins_needs_a_reason_too(client, people, draft, newsroom):
    add_excerpt(client, people["editor"], draft["id"], news_item_ids=[newsroom("open_work")["id"]])
    refused = post(client, people["editor"], draft["id"], "submit")
    assert refused.status_code == 422 and "no wins" in refused.json()["detail"]


def test_the_submitter_cannot_approve_unless_admin_which_is_recorded(
    client, people, draft, newsroom, session
):
    balanced(client, people, draft["id"], newsroom)
    # An admin composes and submits...
    assert post(client, people["admin"], draft["id"], "submit").status_code == 200
    # ...and may approve it, as an audited override.
    approved = post(client, people["admin"], draft["id"], "approve")
    assert approved.status_code == 200
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "issue.approved"))
    assert entry.details["self_approval_override"] is True


def test_an_editor_promoted_to_approver_cannot_approve_their_own_submission(
    client, people, draft, newsroom, engine
):
    balanced(client, people, draft["id"], newsroom)
    assert post(client, people["editor"], draft["id"], "submit").status_code == 200
    with Session(engine) as db:
        editor = db.get(User, people["editor"].user_id)
        editor.role = Role.approver
        db.add(editor)
        db.commit()
    refused = post(client, people["editor"], draft["id"], "approve")
    assert refused.status_code == 403 and "another approver" in refused.json()["detail"]
    assert post(client, people["approver2"], draft["id"], "approve").status_code == 200


def test_roles_guard_each_transition(client, people, draft, newsroom):
    balanced(client, people, draft["id"], newsroom)
    assert post(client, people["viewer"], draft["id"], "submit").status_code == 403
    assert post(client, people["approver"], draft["id"], "submit").status_code == 403
    assert post(client, people["editor"], draft["id"], "submit").status_code == 200
    assert post(client, people["editor"], draft["id"], "approve").status_code == 403
    assert post(client, people["viewer"], draft["id"], "approve").status_code == 403
    assert post(client, people["approver"], draft["id"], "approve").status_code == 200
    future = {"send_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()}
    assert post(client, people["editor"], draft["id"], "schedule", future).status_code == 403
    assert post(client, people["editor"], draft["id"], "cancel").status_code == 403


def test_impossible_transitions_are_conflicts(client, people, draft, newsroom):
    balanced(client, people, draft["id"], newsroom)
    assert post(client, people["approver"], draft["id"], "approve").status_code == 409
    future = {"send_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()}
    assert post(client, people["approver"], draft["id"], "schedule", future).status_code == 409
    assert post(client, people["approver"], draft["id"], "cancel").status_code == 200
    assert post(client, people["editor"], draft["id"], "submit").status_code == 409
    edit = client.patch(
        f"/api/v1/issues/{draft['id']}", json={"title": "x"}, headers=people["editor"].headers
    )
    assert edit.status_code == 409


def test_submitting_needs_targets_and_content(client, people):
    empty = client.post(
        "/api/v1/issues",
        json={"title": "Empty", "planned_date": "2026-12-17"},
        headers=people["editor"].headers,
    ).json()
    refused = post(client, people["editor"], empty["id"], "submit")
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "segment_ids"


def test_schedule_needs_a_future_time_with_a_zone(client, people, draft, newsroom):
    balanced(client, people, draft["id"], newsroom)
    post(client, people["editor"], draft["id"], "submit")
    post(client, people["approver"], draft["id"], "approve")
    past = post(
        client,
        people["approver"],
        draft["id"],
        "schedule",
        {"send_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat()},
    )
    assert past.status_code == 422 and past.json()["errors"][0]["field"] == "send_at"
    naive = post(
        client, people["approver"], draft["id"], "schedule", {"send_at": "2030-01-01T08:00:00"}
    )
    assert naive.status_code == 422


def test_changing_an_approved_issue_sends_it_back_to_draft(
    client, people, draft, newsroom, session
):
    balanced(client, people, draft["id"], newsroom)
    post(client, people["editor"], draft["id"], "submit")
    post(client, people["approver"], draft["id"], "approve")
    post(
        client,
        people["approver"],
        draft["id"],
        "schedule",
        {"send_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()},
    )

    changed = client.patch(
        f"/api/v1/issues/{draft['id']}",
        json={"title": "New title"},
        headers=people["editor"].headers,
    )
    assert changed.status_code == 200
    body = changed.json()
    assert body["status"] == "draft" and body["approved_by_id"] is None
    assert body["send_at"] is None
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "issue.returned_to_draft"))
    assert entry.details["reason"] == "content changed after approval"
    assert entry.details["was"] == "scheduled"
