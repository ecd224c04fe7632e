"""The issue page without a browser: content, moving and removing excerpts, the workflow."""

from sqlalchemy import select

from app.accounts.models import Role
from app.accounts.principal import CLI_PRINCIPAL
from app.issues import service as issues
from app.issues.models import Excerpt, ExcerptCreate, Issue
from tests.studio import factories
from tests.studio.helpers import csrf_of, htmx, sign_in


def issue_with_excerpts(session, *headlines: str) -> Issue:
    issue = factories.issue(session)
    for n, headline in enumerate(headlines):
        kind = "win" if n % 2 == 0 else "open_work"
        data = ExcerptCreate(kind=kind, headline=headline, body="Text.", theme="it")
        issues.add_excerpt(session, issue=issue, data=data, actor=CLI_PRINCIPAL)
    session.commit()
    return issue


def order(session, issue_id: int) -> list[str]:
    session.expire_all()
    query = select(Excerpt.headline).where(Excerpt.issue_id == issue_id).order_by(Excerpt.position)
    return list(session.scalars(query))


def test_an_editor_moves_and_removes_excerpts_and_sees_the_balance(client, engine, session):
    issue = issue_with_excerpts(session, "First", "Second", "Third")
    ids = {e.headline: e.id for e in session.scalars(select(Excerpt))}
    sign_in(client, engine, Role.editor)
    page = client.get(f"/studio/issues/{issue.id}").text
    assert 'data-testid="balance">2 wins,' in page and ">Up<" in page
    headers = htmx(**{"X-CSRF-Token": csrf_of(client)})

    moved = client.post(f"/studio/issues/{issue.id}/excerpts/{ids['Third']}/move",
                        data={"position": 1}, headers=headers)  # fmt: skip
    assert moved.status_code == 200 and 'id="issue-content"' in moved.text
    assert "<html" not in moved.text
    assert order(session, issue.id) == ["First", "Third", "Second"]

    removed = client.post(f"/studio/issues/{issue.id}/excerpts/{ids['Second']}/delete",
                          headers=headers)  # fmt: skip
    assert "missing: open work" in removed.text
    assert order(session, issue.id) == ["First", "Third"]


def test_a_viewer_gets_no_buttons_and_a_403(client, engine, session):
    issue = issue_with_excerpts(session, "First", "Second")
    excerpt_id = session.scalar(select(Excerpt.id).limit(1))
    sign_in(client, engine, Role.viewer)
    page = client.get(f"/studio/issues/{issue.id}").text
    assert ">Up<" not in page and "Submit for approval" not in page
    headers = {"X-CSRF-Token": csrf_of(client)}
    url = f"/studio/issues/{issue.id}/excerpts/{excerpt_id}"
    assert client.post(f"{url}/move", data={"position": 1}, headers=headers).status_code == 403
    assert client.post(f"{url}/delete", headers=headers).status_code == 403
    assert client.post(f"/studio/issues/{issue.id}/submit", headers=headers).status_code == 403


def test_the_list_filters_by_status_in_the_url(client, engine, session):
    factories.issue(session, title="A draft")
    session.commit()
    sign_in(client, engine, Role.viewer)
    assert "A draft" in client.get("/studio/issues?status=draft", headers=htmx()).text
    assert "A draft" not in client.get("/studio/issues?status=sent", headers=htmx()).text


def test_the_preview_per_segment_and_a_test_send_to_oneself(client, engine, session, settings):
    staff = factories.segment(session, "Staff", {"all": [{"field": "status", "op": "eq",
                                                          "value": "active"}]})  # fmt: skip
    bosses = factories.segment(session, "Bosses", {"all": [{"field": "role", "op": "eq",
                                                            "value": "management"}]})  # fmt: skip
    issue = factories.issue(session, segment_ids=[staff.id, bosses.id])
    data = ExcerptCreate(kind="win", headline="Mail is faster", body="Since Monday.")
    issues.add_excerpt(session, issue=issue, data=data, actor=CLI_PRINCIPAL)
    session.commit()
    sign_in(client, engine, Role.editor)

    page = client.get(f"/studio/issues/{issue.id}").text
    assert f'src="/studio/issues/{issue.id}/preview?segment_id={staff.id}"' in page
    assert "sandbox" in page
    fragment = client.get(f"/studio/issues/{issue.id}?segment_id={bosses.id}", headers=htmx())
    assert fragment.text.lstrip().startswith('<section class="card" id="issue-preview"')
    assert f"segment_id={bosses.id}" in fragment.text

    email = client.get(f"/studio/issues/{issue.id}/preview?segment_id={bosses.id}")
    assert email.status_code == 200 and "Mail is faster" in email.text
    policy = email.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script" not in policy
    assert email.headers["x-frame-options"] == "SAMEORIGIN"

    sent = client.post(f"/studio/issues/{issue.id}/test-send?segment_id={staff.id}",
                       headers=htmx(**{"X-CSRF-Token": csrf_of(client)}))  # fmt: skip
    assert sent.status_code == 200 and "Test sent to editor@example.com" in sent.text
    outbox = settings.var_dir / "outbox" / "new"
    assert any(b"[Test]" in f.read_bytes() for f in outbox.iterdir())


def test_a_viewer_may_preview_but_not_send_a_test(client, engine, session):
    staff = factories.segment(session, "Staff", {"all": [{"field": "status", "op": "eq",
                                                          "value": "active"}]})  # fmt: skip
    issue = factories.issue(session, segment_ids=[staff.id])
    session.commit()
    sign_in(client, engine, Role.viewer)
    assert "Send this version as a test" not in client.get(f"/studio/issues/{issue.id}").text
    assert client.get(f"/studio/issues/{issue.id}/preview").status_code == 200
    refused = client.post(f"/studio/issues/{issue.id}/test-send",
                          headers={"X-CSRF-Token": csrf_of(client)})  # fmt: skip
    assert refused.status_code == 403
