"""The issue editor without a browser: drops, inline editing, framings, segment filters and
the workflow steps, with role checks, bad input and CSRF."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlmodel import Session

from app.accounts.models import Role
from app.accounts.principal import CLI_PRINCIPAL
from app.audit.models import AuditEntry
from app.issues import service as issues
from app.issues.models import Excerpt, ExcerptCreate, ExcerptFraming, Issue, SectionCreate
from tests.delivery.factories import approved_issue, issue_status, people, static_segment
from tests.studio import factories
from tests.studio.helpers import csrf_of, htmx, sign_in


def two_sections(session, segment_ids=()) -> tuple[Issue, dict[str, int], dict[str, int]]:
    """An issue with sections Email (First, Second) and Network (Third)."""
    issue = factories.issue(session, segment_ids=list(segment_ids))
    for headline, theme, kind in (("First", "email", "win"), ("Second", "email", "open_work"),
                                  ("Third", "network", "info")):  # fmt: skip
        data = ExcerptCreate(kind=kind, headline=headline, body=f"{headline} text.", theme=theme)
        issues.add_excerpt(session, issue=issue, data=data, actor=CLI_PRINCIPAL)
    session.commit()
    excerpts = {e.headline: e.id for e in session.scalars(select(Excerpt))}
    sections = {s.theme: s.id for s in issues.sections_of(session, issue_id=issue.id)}
    return issue, excerpts, sections


def layout(session, issue_id: int) -> dict[int, list[str]]:
    session.expire_all()
    rows = session.execute(
        select(Excerpt.section_id, Excerpt.headline)
        .where(Excerpt.issue_id == issue_id)
        .order_by(Excerpt.section_id, Excerpt.position)
    )
    found: dict[int, list[str]] = {}
    for section_id, headline in rows:
        found.setdefault(section_id, []).append(headline)
    return found


def as_editor(client, engine, role=Role.editor) -> dict[str, str]:
    sign_in(client, engine, role)
    return htmx(**{"X-CSRF-Token": csrf_of(client)})


# --- drag and drop -----------------------------------------------------------------------


def test_a_drop_into_another_section_moves_through_the_service(client, engine, session):
    issue, ids, sections = two_sections(session)
    headers = as_editor(client, engine)
    page = client.get(f"/studio/issues/{issue.id}").text
    assert "data-sortable" in page and f'data-section-id="{sections["network"]}"' in page
    assert f'data-move-url="/studio/issues/{issue.id}/excerpts/{ids["First"]}/move"' in page

    dropped = client.post(
        f"/studio/issues/{issue.id}/excerpts/{ids['First']}/move",
        data={"section_id": sections["network"], "position": 0},
        headers=headers,
    )
    assert dropped.status_code == 200 and 'id="issue-content"' in dropped.text
    assert "issue-changed" in dropped.headers["hx-trigger"]
    assert layout(session, issue.id) == {
        sections["email"]: ["Second"],
        sections["network"]: ["First", "Third"],
    }
    audit = session.scalars(select(AuditEntry.action).where(AuditEntry.action == "excerpt.moved"))
    assert list(audit) == ["excerpt.moved"]


def test_a_drop_into_a_section_of_another_issue_is_refused(client, engine, session):
    issue, ids, _ = two_sections(session)
    other = factories.issue(session, title="Other")
    foreign = issues.add_section(session, issue=other, data=SectionCreate(title="Elsewhere"),
                                 actor=CLI_PRINCIPAL)  # fmt: skip
    session.commit()
    headers = as_editor(client, engine)
    refused = client.post(
        f"/studio/issues/{issue.id}/excerpts/{ids['First']}/move",
        data={"section_id": foreign.id, "position": 0},
        headers=headers,
    )
    assert refused.status_code == 404
    assert len(layout(session, issue.id)) == 2


def test_a_viewer_sees_no_handles_and_a_drop_without_csrf_is_refused(client, engine, session):
    issue, ids, sections = two_sections(session)
    sign_in(client, engine, Role.viewer)
    page = client.get(f"/studio/issues/{issue.id}").text
    assert "data-sortable" not in page and "drag-handle" not in page and ">Edit<" not in page
    url = f"/studio/issues/{issue.id}/excerpts/{ids['First']}/move"
    data = {"section_id": sections["network"], "position": 0}
    token = {"X-CSRF-Token": csrf_of(client)}
    assert client.post(url, data=data, headers=token).status_code == 403

    sign_in(client, engine, Role.editor, email="writer@example.com")
    assert client.post(url, data=data, headers=htmx()).status_code == 403  # no token
    assert layout(session, issue.id)[sections["email"]] == ["First", "Second"]


# --- inline editing ----------------------------------------------------------------------


def test_edit_opens_in_place_and_save_swaps_back_the_row_and_balance(client, engine, session):
    issue, ids, _ = two_sections(session)
    headers = as_editor(client, engine)
    url = f"/studio/issues/{issue.id}/excerpts/{ids['Second']}/edit"

    form = client.get(url, headers=htmx())
    assert form.text.lstrip().startswith('<li data-testid="excerpt"') and "<html" not in form.text
    assert 'name="headline" value="Second"' in form.text and "Second text." in form.text
    assert "Cancel" in form.text

    fields = {"headline": "Second, better", "kind": "win", "theme": "Email", "body": "**New**",
              "cta_label": "", "cta_url": "https://example.com/x"}  # fmt: skip
    saved = client.post(url, data=fields, headers=headers)
    assert saved.status_code == 200
    assert saved.text.lstrip().startswith('<li data-testid="excerpt"')
    assert "Second, better" in saved.text and 'hx-swap-oob="true"' in saved.text
    assert 'data-testid="balance">2 wins,' in saved.text  # the meter moved with the kind
    assert saved.headers["hx-trigger"] == "issue-changed"
    session.expire_all()
    excerpt = session.get(Excerpt, ids["Second"])
    assert (excerpt.headline, excerpt.kind, excerpt.theme) == ("Second, better", "win", "email")
    assert "<strong>New</strong>" in excerpt.body_html

    row = client.get(f"/studio/issues/{issue.id}/excerpts/{ids['Second']}?focus=edit",
                     headers=htmx())  # fmt: skip
    assert row.text.lstrip().startswith('<li data-testid="excerpt"') and "autofocus" in row.text


def test_the_edit_form_has_its_own_url_as_a_full_page(client, engine, session):
    issue, ids, _ = two_sections(session)
    as_editor(client, engine)
    page = client.get(f"/studio/issues/{issue.id}/excerpts/{ids['Third']}/edit")
    assert page.status_code == 200 and "<html" in page.text
    assert 'class="excerpt-form"' in page.text and "Status" in page.text

    saved = client.post(
        f"/studio/issues/{issue.id}/excerpts/{ids['Third']}/edit",
        data={"csrf_token": csrf_of(client), "headline": "Third", "kind": "info", "body": "x"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == f"/studio/issues/{issue.id}#excerpt-{ids['Third']}"


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("headline", "", "must not be empty"),
        ("headline", "   ", "must not be empty"),
        ("headline", "x" * 201, "at most 200 characters"),
        ("cta_url", "not a link", "web address"),
        ("kind", "gossip", "pick one of the kinds"),
        ("section_id", "999999", "pick a section of this issue"),
        ("segment_filter", "999999", "does not exist"),
    ],
)
def test_bad_input_is_shown_beside_the_field_and_nothing_is_lost(
    client, engine, session, field, value, reason
):
    issue, ids, _ = two_sections(session)
    headers = as_editor(client, engine)
    data = {"headline": "Changed", "kind": "win", "body": "Typed with care.", field: value}
    answer = client.post(f"/studio/issues/{issue.id}/excerpts/{ids['First']}/edit",
                         data=data, headers=headers)  # fmt: skip
    assert answer.status_code == 422
    assert answer.text.lstrip().startswith('<li data-testid="excerpt"')
    assert reason in answer.text and 'aria-invalid="true"' in answer.text
    assert "Typed with care." in answer.text  # what was typed stays in the form
    session.expire_all()
    assert session.get(Excerpt, ids["First"]).headline == "First"


def test_a_refused_edit_of_an_approved_issue_leaves_it_approved(client, engine, session):
    readers = static_segment(engine, "Readers", people(engine, 2))
    issue_id = approved_issue(engine, [readers])
    excerpt_id = session.scalar(select(Excerpt.id).where(Excerpt.issue_id == issue_id).limit(1))
    headers = as_editor(client, engine)
    url = f"/studio/issues/{issue_id}/excerpts/{excerpt_id}/edit"
    bad = client.post(url, data={"headline": "", "kind": "win"}, headers=headers)
    assert bad.status_code == 422 and issue_status(engine, issue_id) == "approved"

    good = client.post(url, data={"headline": "Mail is faster still", "kind": "win"},
                       headers=headers)  # fmt: skip
    assert good.status_code == 200
    assert good.headers["hx-trigger"] == "issue-changed, issue-status-changed"
    assert issue_status(engine, issue_id) == "draft"


def test_a_new_section_in_the_form_moves_the_excerpt_to_its_end(client, engine, session):
    issue, ids, sections = two_sections(session)
    headers = as_editor(client, engine)
    saved = client.post(
        f"/studio/issues/{issue.id}/excerpts/{ids['First']}/edit",
        data={"headline": "First", "kind": "win", "section_id": sections["network"]},
        headers=headers,
    )
    assert saved.status_code == 200
    assert saved.headers["hx-retarget"] == "#issue-content"
    assert layout(session, issue.id)[sections["network"]] == ["Third", "First"]


def test_the_segment_filter_is_set_and_cleared_in_the_form(client, engine, session):
    staff = static_segment(engine, "Staff", people(engine, 2))
    bosses = static_segment(engine, "Bosses", people(engine, 1, prefix="b"))
    issue, ids, _ = two_sections(session, segment_ids=[staff, bosses])
    headers = as_editor(client, engine)
    url = f"/studio/issues/{issue.id}/excerpts/{ids['First']}/edit"
    form = client.get(url, headers=htmx()).text
    assert "only Staff" in form and "only Bosses" in form

    saved = client.post(url, data={"headline": "First", "kind": "win",
                                   "segment_filter": [bosses]}, headers=headers)  # fmt: skip
    assert "only for Bosses" in saved.text
    session.expire_all()
    assert session.get(Excerpt, ids["First"]).segment_filter == [bosses]

    client.post(url, data={"headline": "First", "kind": "win"}, headers=headers)
    session.expire_all()
    assert session.get(Excerpt, ids["First"]).segment_filter == []


def test_a_viewer_gets_403_on_every_editor_route(client, engine, session):
    staff = static_segment(engine, "Staff", people(engine, 1))
    issue, ids, _ = two_sections(session, segment_ids=[staff])
    sign_in(client, engine, Role.viewer)
    headers = {"X-CSRF-Token": csrf_of(client)}
    base = f"/studio/issues/{issue.id}/excerpts/{ids['First']}"
    assert client.get(f"{base}/edit").status_code == 403
    assert client.get(f"{base}/framings").status_code == 403
    assert client.get(base, headers=htmx()).status_code == 200  # reading a row is fine
    posts = (f"{base}/edit", f"{base}/framings/{staff}", f"{base}/framings/{staff}/delete")
    for url in posts:
        refused = client.post(url, data={"headline": "x", "body": "x"}, headers=headers)
        assert refused.status_code == 403


def test_saving_without_a_csrf_token_is_refused(client, engine, session):
    issue, ids, _ = two_sections(session)
    sign_in(client, engine, Role.editor)
    url = f"/studio/issues/{issue.id}/excerpts/{ids['First']}/edit"
    assert client.post(url, data={"headline": "x", "kind": "win"}).status_code == 403
    session.expire_all()
    assert session.get(Excerpt, ids["First"]).headline == "First"


# --- framings ----------------------------------------------------------------------------


def test_framings_per_target_segment_are_added_changed_and_removed(client, engine, session):
    staff = static_segment(engine, "Staff", people(engine, 2))
    bosses = static_segment(engine, "Bosses", people(engine, 1, prefix="b"))
    issue, ids, _ = two_sections(session, segment_ids=[staff, bosses])
    headers = as_editor(client, engine)
    base = f"/studio/issues/{issue.id}/excerpts/{ids['First']}"

    panel = client.get(f"{base}/framings", headers=htmx()).text
    assert panel.lstrip().startswith('<li data-testid="excerpt"')
    assert "What Staff reads" in panel and "What Bosses reads" in panel
    assert "Remove framing" not in panel

    saved = client.post(f"{base}/framings/{bosses}", data={"body": "It **saves** money."},
                        headers=headers)  # fmt: skip
    assert saved.status_code == 200 and "Saved: Bosses reads this text." in saved.text
    assert saved.text.lstrip().startswith('<form class="framing"')
    assert "Remove framing" in saved.text and saved.headers["hx-trigger"] == "issue-changed"
    framing = session.scalar(select(ExcerptFraming).where(ExcerptFraming.segment_id == bosses))
    assert "<strong>saves</strong>" in framing.body_html
    row = client.get(base, headers=htmx()).text
    assert "framed for Bosses" in row

    client.post(f"{base}/framings/{bosses}", data={"body": "Cheaper."}, headers=headers)
    session.expire_all()
    assert session.scalars(select(ExcerptFraming.body_md)).all() == ["Cheaper."]

    removed = client.post(f"{base}/framings/{bosses}/delete", headers=headers)
    assert "Removed: Bosses reads the default text." in removed.text
    assert session.scalars(select(ExcerptFraming)).all() == []


def test_an_empty_framing_or_a_segment_not_targeted_is_explained(client, engine, session):
    staff = static_segment(engine, "Staff", people(engine, 2))
    outsiders = static_segment(engine, "Outsiders", people(engine, 1, prefix="o"))
    issue, ids, _ = two_sections(session, segment_ids=[staff])
    headers = as_editor(client, engine)
    base = f"/studio/issues/{issue.id}/excerpts/{ids['First']}/framings"

    empty = client.post(f"{base}/{staff}", data={"body": "  "}, headers=headers)
    assert empty.status_code == 422 and "or remove the framing" in empty.text
    stranger = client.post(f"{base}/{outsiders}", data={"body": "Hi"}, headers=headers)
    assert stranger.status_code == 422 and "not a target of this issue" in stranger.text
    assert "Hi" in stranger.text
    assert session.scalars(select(ExcerptFraming)).all() == []
    assert client.post(f"{base}/{staff}/delete", headers=headers).status_code == 404


# --- workflow ----------------------------------------------------------------------------


def test_an_approver_schedules_with_the_audience_named_and_unschedules(client, engine):
    issue_id = factories.an_approved_issue(engine)
    sign_in(client, engine, Role.approver)
    page = client.get(f"/studio/issues/{issue_id}").text
    assert "Schedule for 3 subscribers" in page
    assert "A send then would reach 3 subscribers" in page  # the confirmation
    assert "Cancel issue" in page and "Return to draft" in page

    when = (datetime.now(UTC) + timedelta(days=2)).replace(second=0, microsecond=0)
    field = when.strftime("%Y-%m-%dT%H:%M")
    token = csrf_of(client)
    scheduled = client.post(f"/studio/issues/{issue_id}/schedule", data={"send_at": field},
                            headers=htmx(**{"X-CSRF-Token": token}))  # fmt: skip
    assert scheduled.status_code == 204
    assert scheduled.headers["hx-redirect"] == f"/studio/issues/{issue_id}"
    with Session(engine) as db:
        issue = db.get(Issue, issue_id)
        assert issue.status == "scheduled"
        assert issue.send_at.replace(tzinfo=UTC) == when  # read as UTC
    page = client.get(f"/studio/issues/{issue_id}").text
    assert f"{when:%Y-%m-%d %H:%M} UTC" in page and "Unschedule" in page

    unscheduled = client.post(f"/studio/issues/{issue_id}/unschedule",
                              data={"csrf_token": token}, follow_redirects=False)  # fmt: skip
    assert unscheduled.status_code == 303 and issue_status(engine, issue_id) == "approved"


@pytest.mark.parametrize(
    ("send_at", "reason"), [("", "give a date and a time"), ("2020-01-01T08:00", "future")]
)
def test_a_bad_schedule_time_is_explained_in_place(client, engine, send_at, reason):
    issue_id = factories.an_approved_issue(engine)
    sign_in(client, engine, Role.approver)
    answer = client.post(f"/studio/issues/{issue_id}/schedule", data={"send_at": send_at},
                         headers=htmx(**{"X-CSRF-Token": csrf_of(client)}))  # fmt: skip
    assert answer.status_code == 422
    assert answer.text.lstrip().startswith('<section class="card" id="issue-workflow"')
    assert reason in answer.text and 'role="alert"' in answer.text
    assert issue_status(engine, issue_id) == "approved"


def test_return_to_draft_and_cancel(client, engine):
    issue_id = factories.an_approved_issue(engine)
    sign_in(client, engine, Role.approver)
    headers = htmx(**{"X-CSRF-Token": csrf_of(client)})
    back = client.post(f"/studio/issues/{issue_id}/return-to-draft",
                       data={"comment": "Shorter, please"}, headers=headers)  # fmt: skip
    assert back.status_code == 204 and issue_status(engine, issue_id) == "draft"
    cancelled = client.post(f"/studio/issues/{issue_id}/cancel", headers=headers)
    assert cancelled.status_code == 204 and issue_status(engine, issue_id) == "cancelled"
    page = client.get(f"/studio/issues/{issue_id}").text
    assert "Cancel issue" not in page and "Return to draft" not in page


def test_a_step_the_status_does_not_allow_is_a_readable_409(client, engine):
    issue_id = factories.an_approved_issue(engine)
    sign_in(client, engine, Role.approver)
    headers = htmx(**{"X-CSRF-Token": csrf_of(client)})
    refused = client.post(f"/studio/issues/{issue_id}/unschedule", headers=headers)
    assert refused.status_code == 409 and "approved, not scheduled" in refused.text
    client.post(f"/studio/issues/{issue_id}/cancel", headers=headers)
    again = client.post(f"/studio/issues/{issue_id}/cancel", headers=headers)
    assert again.status_code == 409 and "cannot be cancelled" in again.text


def test_an_unbalanced_submit_asks_for_the_reason_in_place(client, engine, session):
    staff = static_segment(engine, "Staff", people(engine, 1))
    issue = factories.issue(session, segment_ids=[staff])
    data = ExcerptCreate(kind="win", headline="Only good news", body="x")
    issues.add_excerpt(session, issue=issue, data=data, actor=CLI_PRINCIPAL)
    session.commit()
    headers = as_editor(client, engine)
    answer = client.post(f"/studio/issues/{issue.id}/submit", data={"reason": "short"},
                         headers=headers)  # fmt: skip
    assert answer.status_code == 422 and "say in a sentence why" in answer.text
    assert 'value="short"' in answer.text and issue_status(engine, issue.id) == "draft"


def test_roles_see_only_their_steps_and_are_refused_the_others(client, engine):
    issue_id = factories.an_approved_issue(engine)
    sign_in(client, engine, Role.editor)
    page = client.get(f"/studio/issues/{issue_id}").text
    assert "Return to draft" in page  # an editor may withdraw it
    assert "Schedule for" not in page and "Cancel issue" not in page
    headers = htmx(**{"X-CSRF-Token": csrf_of(client)})
    for step in ("schedule", "unschedule", "cancel"):
        assert client.post(f"/studio/issues/{issue_id}/{step}", headers=headers).status_code == 403

    sign_in(client, engine, Role.viewer)
    page = client.get(f"/studio/issues/{issue_id}").text
    for label in ("Schedule for", "Unschedule", "Return to draft", "Cancel issue", "Approve"):
        assert label not in page
    headers = htmx(**{"X-CSRF-Token": csrf_of(client)})
    for step in ("schedule", "unschedule", "return-to-draft", "cancel", "approve", "submit"):
        assert client.post(f"/studio/issues/{issue_id}/{step}", headers=headers).status_code == 403
    assert client.post(f"/studio/issues/{issue_id}/cancel").status_code == 403  # no CSRF
    assert issue_status(engine, issue_id) == "approved"


def test_htmx_asks_the_page_url_for_one_part_by_its_target(client, engine, session):
    issue, _, _ = two_sections(session)
    sign_in(client, engine, Role.viewer)
    url = f"/studio/issues/{issue.id}"
    workflow = client.get(url, headers=htmx(**{"HX-Target": "issue-workflow"})).text
    assert workflow.lstrip().startswith('<section class="card" id="issue-workflow"')
    content = client.get(url, headers=htmx(**{"HX-Target": "issue-content"})).text
    assert content.lstrip().startswith('<section class="card" id="issue-content"')
