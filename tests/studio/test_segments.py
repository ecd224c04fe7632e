"""The segment builder without a browser: the count endpoint, saving, permissions."""

import re

from sqlalchemy import select

from app.accounts.models import Role
from app.segments.models import Segment
from tests.studio import factories
from tests.studio.helpers import csrf_of, htmx, sign_in


def people(session) -> None:
    for department, status in (
        ("Finance", "active"),
        ("Finance", "unsubscribed"),
        ("IT", "active"),
    ):
        factories.subscriber(session, attributes={"department": department}, status=status)
    session.commit()


def test_the_count_follows_the_rule_being_built(client, engine, session):
    people(session)
    sign_in(client, engine, Role.viewer)
    finance = client.get(
        "/studio/segments/count",
        params={"match": "all", "field": ["department"], "op": ["eq"], "value": ["finance"]},
        headers=htmx(),
    ).text
    assert "<strong>2</strong> members" in finance and "<strong>1</strong> active" in finance
    either = client.get(
        "/studio/segments/count",
        params={"match": "any", "field": ["department", ""], "op": ["in", "eq"],
                "value": ["Finance, IT", ""]},
    ).text  # fmt: skip
    assert "<strong>3</strong> members" in either
    incomplete = client.get(
        "/studio/segments/count", params={"field": ["status"], "op": ["eq"], "value": ["gone"]}
    ).text
    assert "condition 1: unknown status" in incomplete
    assert "add a condition" in client.get("/studio/segments/count").text


def test_an_editor_saves_a_segment_and_a_taken_name_is_reported(client, engine, session):
    people(session)
    sign_in(client, engine, Role.editor)
    token = csrf_of(client, "/studio/segments/new")
    form = {"csrf_token": token, "name": "Finance", "match": "all", "field": ["department"],
            "op": ["eq"], "value": ["Finance"]}  # fmt: skip
    saved = client.post("/studio/segments/new", data=form, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    segment = session.scalar(select(Segment).where(Segment.name == "Finance"))
    assert segment.rule == {"all": [{"field": "department", "op": "eq", "value": "Finance"}]}
    listing = client.get("/studio/segments").text
    assert "Finance" in listing and "department eq Finance" in listing

    again = client.post("/studio/segments/new", data=form)
    assert again.status_code == 409 and 'role="alert"' in again.text
    assert 'value="Finance"' in again.text  # the form keeps what was typed

    form["value"] = ["IT"]
    edited = client.post(f"/studio/segments/{segment.id}", data=form, follow_redirects=False)
    assert edited.status_code == 303
    session.refresh(segment)
    assert segment.rule["all"][0]["value"] == "IT"


def test_a_viewer_reads_segments_but_may_not_save(client, engine, session):
    people(session)
    sign_in(client, engine, Role.viewer)
    assert "New segment" not in client.get("/studio/segments").text
    assert client.get("/studio/segments/new").status_code == 403
    form = {"csrf_token": csrf_of(client), "name": "X", "field": ["department"], "op": ["eq"],
            "value": ["IT"]}  # fmt: skip
    assert client.post("/studio/segments/new", data=form).status_code == 403


def test_a_rule_with_nested_groups_is_shown_in_words_and_kept_on_save(client, engine, session):
    rule = {"all": [{"field": "department", "op": "eq", "value": "IT"},
                    {"any": [{"field": "location", "op": "eq", "value": "Berlin"},
                             {"field": "location", "op": "eq", "value": "Vienna"}]}]}  # fmt: skip
    segment = factories.segment(session, "IT in two cities", rule)
    session.commit()
    sign_in(client, engine, Role.editor)
    page = client.get(f"/studio/segments/{segment.id}").text
    assert "nested groups" in page and 'name="field"' not in page
    form = {"csrf_token": csrf_of(client), "name": "IT in Berlin or Vienna"}
    saved = client.post(f"/studio/segments/{segment.id}", data=form, follow_redirects=False)
    assert saved.status_code == 303
    session.refresh(segment)
    assert segment.name == "IT in Berlin or Vienna" and segment.rule == rule


def _row_counts(page: str, name: str) -> list[str]:
    row = page[page.index(f">{name}</a>") :]
    row = row[: row.index("</tr>")]
    return re.findall(r'<td class="num">(\d+)</td>', row)


def test_the_list_says_when_it_counted_and_counts_again_after_a_change(client, engine, session):
    people(session)
    factories.segment(
        session, "Finance", {"all": [{"field": "department", "op": "eq", "value": "Finance"}]}
    )
    session.commit()
    sign_in(client, engine, Role.viewer)
    listing = client.get("/studio/segments").text
    assert _row_counts(listing, "Finance") == ["2", "1"]
    assert 'data-testid="counted-at"' in listing and "UTC</time>" in listing

    newcomer = factories.subscriber(session, attributes={"department": "Finance"})
    session.commit()
    assert _row_counts(client.get("/studio/segments").text, "Finance") == ["3", "2"]
    newcomer.status = "bounced"  # as the send worker marks a bounce: the status alone
    session.commit()
    assert _row_counts(client.get("/studio/segments").text, "Finance") == ["3", "1"]
