"""Privacy modes: what the email carries and what an open or click stores in each."""

import re

from sqlalchemy import inspect, select
from sqlmodel import Session

from app.accounts.models import Role
from app.audit.models import AuditEntry
from app.tracking.models import EngagementEvent, TrackedLink, TrackingSalt
from app.tracking.service import pseudonym
from tests.conftest import make_user, make_user_token
from tests.delivery.factories import people, static_segment
from tests.tracking.factories import PORTAL, linked_issue, message_for


def stored(engine) -> list[EngagementEvent]:
    with Session(engine) as session:
        return list(session.scalars(select(EngagementEvent).order_by(EngagementEvent.id)))


def open_and_click(app, client, engine, issue_id, person):
    message = message_for(app, engine, issue_id, person)
    client.get(message.pixel)
    client.get(message.clicks[PORTAL], follow_redirects=False)
    app.state.recorder.drain()
    return message


def switch(client, mode: str, legal_basis: str = ""):
    return client.put("/api/v1/settings/privacy", json={"mode": mode, "legal_basis": legal_basis})


def test_aggregate_mode_stores_a_pseudonym_and_never_a_person(app, client, engine):
    persons = people(engine, 2)
    segment = static_segment(engine, "All", persons)
    issue_id = linked_issue(engine, [segment])
    for person in persons:
        open_and_click(app, client, engine, issue_id, person)
    events = stored(engine)
    assert [e.kind for e in events] == ["open", "click"] * 2
    assert all(e.subscriber_id is None and e.variant == [segment] for e in events)
    assert events[0].reader == events[1].reader != events[2].reader == events[3].reader
    assert all(re.fullmatch(r"[0-9a-f]{16}", e.reader) for e in events)
    # Nothing in the table could hold an address, a user agent or an IP.
    columns = {c["name"] for c in inspect(engine).get_columns("engagement_event")}
    assert not {"email", "address", "user_agent", "ip", "ip_address"} & columns
    assert "example.com" not in repr([e.model_dump() for e in events])


def test_individual_mode_needs_a_legal_basis_is_audited_and_does_not_link_back(
    app, client, engine, api
):
    [person] = people(engine, 1)
    issue_id = linked_issue(engine, [static_segment(engine, "All", [person])])
    open_and_click(app, client, engine, issue_id, person)
    [before, _] = stored(engine)

    editor = api("stats:read", "subscribers:write")
    assert switch(editor, "individual", "works council agreement 2026/4").status_code == 403
    admin = api("admin")
    refused = switch(admin, "individual", "   ")
    assert refused.status_code == 422
    assert refused.json()["errors"] == [
        {"field": "legal_basis", "reason": refused.json()["errors"][0]["reason"]}
    ]
    assert admin.get("/api/v1/settings/privacy").json()["mode"] == "aggregate"

    done = switch(admin, "individual", "works council agreement 2026/4")
    assert done.status_code == 200
    assert done.json()["mode"] == "individual" and done.json()["changed_by"]
    with Session(engine) as session:
        [entry] = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "privacy.changed")
        ).all()
        assert entry.details["to"] == "individual"
        assert entry.details["legal_basis"] == "works council agreement 2026/4"
        # The salt that made `before.reader` is gone: it cannot be recomputed any more.
        assert session.scalars(select(TrackingSalt)).all() == []

    open_and_click(app, client, engine, issue_id, person)
    after = stored(engine)[2:]
    assert [(e.subscriber_id, e.reader) for e in after] == [(person, None), (person, None)]

    # Back to aggregate: a new salt, a pseudonym that matches nothing from before.
    assert switch(admin, "aggregate").status_code == 200
    open_and_click(app, client, engine, issue_id, person)
    latest = stored(engine)[4]
    assert latest.subscriber_id is None and latest.reader not in (None, before.reader)
    with Session(engine) as session:
        salt = bytes.fromhex(session.get(TrackingSalt, issue_id).salt)
    assert pseudonym(salt, person) == latest.reader != before.reader


def test_off_mode_renders_no_pixel_and_direct_links_and_records_nothing(app, client, engine, api):
    [person] = people(engine, 1)
    issue_id = linked_issue(engine, [static_segment(engine, "All", [person])])
    tracked = message_for(app, engine, issue_id, person)
    assert switch(api("admin"), "off").status_code == 200

    message = message_for(app, engine, issue_id, person)
    assert message.pixel is None and message.clicks == {}
    assert "/o/" not in message.html and "/c/" not in message.html + message.text
    assert f'href="{PORTAL}"' in message.html and PORTAL in message.text
    # Links in emails sent before the switch still work, but count nothing.
    client.get(tracked.pixel)
    assert client.get(tracked.clicks[PORTAL], follow_redirects=False).status_code == 302
    app.state.recorder.drain()
    assert stored(engine) == []


def test_previews_the_web_version_and_test_sends_record_nothing(app, client, engine, api):
    [person] = people(engine, 1)
    issue_id = linked_issue(engine, [static_segment(engine, "All", [person])])
    message = message_for(app, engine, issue_id, person)
    reader = api("issues:read")
    preview = reader.get(f"/api/v1/issues/{issue_id}/preview?subscriber_id={person}").text
    text = reader.get(f"/api/v1/issues/{issue_id}/preview?format=text").text
    web_url = re.search(r'href="http://testserver(/web/[^"]+)"', message.html).group(1)
    web = client.get(web_url).text
    for page in (preview, text, web):
        assert "/o/" not in page and "/c/" not in page and "__DBSLOT_" not in page
        assert PORTAL in page
    # A test send goes to an address, not a subscriber: its links redirect, nothing counts.
    from app.issues.models import Issue
    from app.rendering.message import Recipient

    with Session(engine) as session:
        issue = session.get(Issue, issue_id)
        compiled = app.state.renderer.compiled(session, issue=issue, segment_ids=())
        values = app.state.renderer.values_for(compiled, issue_id=issue_id, subscriber=None)
        proof = app.state.renderer.factory(compiled, issue_id=issue_id).build(
            Recipient(0, "me@example.com", ""), values
        )
        session.commit()
    body = proof.decode().replace("=\r\n", "")
    assert "/o/" not in body
    for path in re.findall(r"http://testserver(/c/[^\s\"<>]+)", body)[:3]:
        assert client.get(path.replace("=3D", "="), follow_redirects=False).status_code == 302
    app.state.recorder.drain()
    assert stored(engine) == []
    with Session(engine) as session:
        assert session.scalars(select(TrackedLink)).all() != []


def test_the_setting_is_readable_by_staff_with_stats_access(client, engine):
    user = make_user(engine, email="viewer@example.com", role=Role.viewer)
    client.headers["Authorization"] = f"Bearer {make_user_token(engine, user)}"
    setting = client.get("/api/v1/settings/privacy")
    assert setting.status_code == 200
    assert setting.json() == {
        "mode": "aggregate",
        "legal_basis": "",
        "changed_by": "",
        "changed_at": None,
    }
    assert switch(client, "off").status_code == 403
