"""The webhooks admin API: validation, scopes, the secret shown once, rotate, ping, audit."""

import json

import pytest
from sqlalchemy import select

from app.audit.models import AuditEntry
from app.webhooks.models import WebhookDelivery, WebhookEndpoint
from app.webhooks.signing import verify_signature
from app.webhooks.tasks import deliver_due
from tests.webhooks.conftest import emit_committed

WEBHOOKS = "/api/v1/webhooks"


def create_webhook(client, url: str = "https://hooks.example.com/drumbeat", **fields) -> dict:
    response = client.post(WEBHOOKS, json={"url": url} | fields)
    assert response.status_code == 201, response.text
    return response.json()


def audit_actions(session) -> list[str]:
    query = select(AuditEntry.action).where(AuditEntry.object_type == "webhook")
    return list(session.scalars(query.order_by(AuditEntry.id)))


def test_the_secret_is_shown_on_creation_only(admin_api, session):
    created = create_webhook(
        admin_api, description=" Teams bridge ", events=["issue.sent", "issue.approved"]
    )
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 40
    assert created["url"] == "https://hooks.example.com/drumbeat"
    assert created["description"] == "Teams bridge"
    assert created["events"] == ["issue.approved", "issue.sent"]
    assert created["is_active"] is True

    listed = admin_api.get(WEBHOOKS).json()
    fetched = admin_api.get(f"{WEBHOOKS}/{created['id']}").json()
    public = {k: v for k, v in created.items() if k != "secret"}
    assert listed == [public]
    assert fetched == public
    assert session.get(WebhookEndpoint, created["id"]).secret == created["secret"]

    [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "webhook.created"))
    assert entry.object_id == str(created["id"])
    assert created["secret"] not in json.dumps(entry.details)


def test_events_default_to_all_and_star_wins(admin_api):
    assert create_webhook(admin_api)["events"] == ["*"]
    assert create_webhook(admin_api, events=["issue.sent", "*"])["events"] == ["*"]


@pytest.mark.parametrize(
    "url",
    [
        "ftp://files.example.com/hook",
        "javascript:alert(1)",
        "https://user:password@hooks.example.com/x",
        "https://token@hooks.example.com/x",
        "hooks.example.com/no-scheme",
        "https:///no-host",
        "https://hooks.example.com:99999/x",
        "https://hooks.example.com/with space",
        "",
    ],
)
def test_only_http_urls_without_credentials_are_accepted(admin_api, url):
    response = admin_api.post(WEBHOOKS, json={"url": url})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == ["url"]


@pytest.mark.parametrize("events", [[], ["issue.deleted"], ["ping"]])
def test_unknown_or_no_events_are_refused(admin_api, events):
    response = admin_api.post(WEBHOOKS, json={"url": "https://h.example.com/", "events": events})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["events"]


def test_only_admins_manage_webhooks(api, client):
    client.headers.pop("Authorization", None)
    assert client.get(WEBHOOKS).status_code == 401
    api("subscribers:write", "news:write", "issues:read")
    for method, path in [
        ("GET", WEBHOOKS),
        ("POST", WEBHOOKS),
        ("PATCH", f"{WEBHOOKS}/1"),
        ("DELETE", f"{WEBHOOKS}/1"),
        ("POST", f"{WEBHOOKS}/1/rotate-secret"),
        ("GET", f"{WEBHOOKS}/1/deliveries"),
        ("POST", f"{WEBHOOKS}/1/ping"),
    ]:
        body = {"url": "https://h.example.com/"} if method in ("POST", "PATCH") else None
        response = client.request(method, path, json=body)
        assert response.status_code == 403, (method, path)
        assert "'admin'" in response.json()["detail"]


def test_update_and_delete(admin_api, session, engine):
    created = create_webhook(admin_api)
    path = f"{WEBHOOKS}/{created['id']}"
    changed = admin_api.patch(
        path,
        json={"url": "http://intranet.local:8080/in", "events": ["issue.sent"], "is_active": False},
    )
    assert changed.status_code == 200
    assert changed.json() | {"created_at": None} == {
        "id": created["id"],
        "url": "http://intranet.local:8080/in",
        "description": "",
        "events": ["issue.sent"],
        "is_active": False,
        "created_at": None,
    }
    assert "secret" not in changed.json()
    refused = admin_api.patch(path, json={"url": "https://u:p@h.example.com"})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "url"

    admin_api.patch(path, json={"is_active": True})
    emit_committed(engine, "issue.sent")
    assert len(session.scalars(select(WebhookDelivery)).all()) == 1
    assert admin_api.delete(path).status_code == 204
    assert admin_api.get(path).status_code == 404
    assert admin_api.patch(path, json={"description": "x"}).status_code == 404
    session.expire_all()
    assert session.scalars(select(WebhookDelivery)).all() == []  # deleted with the endpoint
    assert audit_actions(session) == [
        "webhook.created",
        "webhook.updated",
        "webhook.updated",
        "webhook.deleted",
    ]


def test_rotating_the_secret_signs_later_deliveries_with_the_new_one(
    admin_api, session, engine, receiver, http
):
    created = create_webhook(admin_api, receiver.url())
    emit_committed(engine, "issue.approved")  # queued before the rotation, sent after it

    rotated = admin_api.post(f"{WEBHOOKS}/{created['id']}/rotate-secret")
    assert rotated.status_code == 200
    new_secret = rotated.json()["secret"]
    assert new_secret.startswith("whsec_") and new_secret != created["secret"]
    assert "secret" not in admin_api.get(f"{WEBHOOKS}/{created['id']}").json()

    assert deliver_due(engine, client=http) == 1
    [request] = receiver.requests
    header = request.headers["x-drumbeat-signature"]
    assert verify_signature(new_secret, header, request.body)
    assert not verify_signature(created["secret"], header, request.body)
    assert audit_actions(session) == ["webhook.created", "webhook.secret_rotated"]


def test_ping_goes_to_that_endpoint_only_and_shows_in_its_deliveries(
    admin_api, session, engine, receiver, http
):
    pinged = create_webhook(admin_api, receiver.url())
    other = create_webhook(admin_api, receiver.url("/slowish"))

    response = admin_api.post(f"{WEBHOOKS}/{pinged['id']}/ping")
    assert response.status_code == 202
    queued = response.json()
    assert (queued["event"], queued["status"], queued["attempts"]) == ("ping", "pending", 0)
    assert queued["payload"] == {"webhook_id": pinged["id"], "message": "Drumbeat webhook test"}

    assert deliver_due(engine, client=http) == 1
    [request] = receiver.requests
    assert request.path == "/hook"
    assert request.headers["x-drumbeat-event"] == "ping"
    assert json.loads(request.body)["id"] == queued["id"]
    assert verify_signature(pinged["secret"], request.headers["x-drumbeat-signature"], request.body)

    [delivered] = admin_api.get(f"{WEBHOOKS}/{pinged['id']}/deliveries").json()
    assert delivered["id"] == queued["id"]
    assert (delivered["status"], delivered["attempts"], delivered["last_status_code"]) == (
        "delivered",
        1,
        200,
    )
    assert admin_api.get(f"{WEBHOOKS}/{other['id']}/deliveries").json() == []
    assert audit_actions(session)[-1] == "webhook.pinged"


def test_an_inactive_endpoint_cannot_be_pinged(admin_api):
    created = create_webhook(admin_api, is_active=False)
    response = admin_api.post(f"{WEBHOOKS}/{created['id']}/ping")
    assert response.status_code == 409
    assert "inactive" in response.json()["detail"]
    assert admin_api.post(f"{WEBHOOKS}/999999/ping").status_code == 404


def test_deliveries_list_the_last_error_newest_first_and_filter_by_status(
    admin_api, engine, refused_url, http
):
    created = create_webhook(admin_api, refused_url)
    emit_committed(engine, "issue.submitted", {"issue_id": 1})
    emit_committed(engine, "issue.approved", {"issue_id": 1})
    assert deliver_due(engine, client=http) == 2

    path = f"{WEBHOOKS}/{created['id']}/deliveries"
    listed = admin_api.get(path).json()
    assert [d["event"] for d in listed] == ["issue.approved", "issue.submitted"]
    for delivery in listed:
        assert (delivery["status"], delivery["attempts"]) == ("pending", 1)
        assert delivery["last_error"].startswith("ConnectError: ")
        assert delivery["next_attempt_at"] is not None
    assert admin_api.get(path, params={"status": "delivered"}).json() == []
    assert len(admin_api.get(path, params={"status": "pending", "limit": 1}).json()) == 1
    assert admin_api.get(path, params={"status": "lost"}).status_code == 422


def test_with_webhooks_disabled_the_app_starts_no_runner(client, app):
    assert app.state.webhook_runner is None
