"""Composing an issue: excerpts from news or by hand, sections, order, framing, filters."""

from sqlalchemy import select

from app.audit.models import AuditEntry
from tests.issues.conftest import add_excerpt


def excerpts_of(issue: dict) -> list[dict]:
    return [e for section in issue["sections"] for e in section["excerpts"]]


def test_an_excerpt_from_news_copies_the_text_and_keeps_the_source(client, people, draft, newsroom):
    item = newsroom(
        "win",
        title="Licence audit passed",
        link="https://sam.example/audit",
        theme="Licensing",
        body="We saved **120k EUR**.",
    )
    issue = add_excerpt(client, people["editor"], draft["id"], news_item_ids=[item["id"]])

    [section] = issue["sections"]
    assert section["title"] == "Licensing" and section["theme"] == "licensing"
    [excerpt] = section["excerpts"]
    assert excerpt["headline"] == "Licence audit passed"
    assert excerpt["kind"] == "win" and excerpt["news_item_ids"] == [item["id"]]
    assert "<strong>120k EUR</strong>" in excerpt["body_html"]
    assert excerpt["cta_url"] == "https://sam.example/audit"


def test_an_excerpt_from_several_items_and_one_written_by_hand(client, people, draft, newsroom):
    first, second = newsroom("open_work", body="Backlog: 40"), newsroom("open_work", body="SLA")
    issue = add_excerpt(
        client,
        people["editor"],
        draft["id"],
        news_item_ids=[first["id"], second["id"]],
        headline="Licence requests",
    )
    add_excerpt(
        client,
        people["editor"],
        draft["id"],
        kind="info",
        headline="Office move",
        body="Floor 3 moves <script>alert(1)</script> on Monday.",
        theme="facilities",
    )
    issue = client.get(f"/api/v1/issues/{draft['id']}", headers=people["viewer"].headers).json()

    by_headline = {e["headline"]: e for e in excerpts_of(issue)}
    assert by_headline["Licence requests"]["news_item_ids"] == sorted([first["id"], second["id"]])
    assert "Backlog: 40" in by_headline["Licence requests"]["body_md"]
    assert "SLA" in by_headline["Licence requests"]["body_md"]
    assert "<script" not in by_headline["Office move"]["body_html"]
    assert [s["title"] for s in issue["sections"]] == ["Service desk", "Facilities"]


def test_a_call_to_action_must_be_a_web_address(client, people, draft):
    created = add_excerpt(
        client,
        people["editor"],
        draft["id"],
        kind="win",
        headline="Portal",
        cta_url="https://a.example/",
    )
    excerpt_id = excerpts_of(created)[0]["id"]
    for method, path in (
        ("post", f"/api/v1/issues/{draft['id']}/excerpts"),
        ("patch", f"/api/v1/issues/{draft['id']}/excerpts/{excerpt_id}"),
    ):
        refused = getattr(client, method)(
            path,
            json={"kind": "win", "headline": "x", "cta_url": "javascript:alert(1)"},
            headers=people["editor"].headers,
        )
        assert refused.status_code == 422, (method, refused.text)
        assert refused.json()["errors"][0]["field"] == "cta_url"
    kept = client.get(f"/api/v1/issues/{draft['id']}", headers=people["editor"].headers).json()
    assert [e["cta_url"] for e in excerpts_of(kept)] == ["https://a.example/"]


def test_hand_written_excerpts_need_a_kind_and_a_headline(client, people, draft):
    response = client.post(
        f"/api/v1/issues/{draft['id']}/excerpts",
        json={"headline": "x"},
        headers=people["editor"].headers,
    )
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "kind"
    unknown = client.post(
        f"/api/v1/issues/{draft['id']}/excerpts",
        json={"news_item_ids": [999999]},
        headers=people["editor"].headers,
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "news_item_ids.0"


def test_reorder_and_move_excerpts_between_sections(client, people, draft, newsroom):
    editor = people["editor"]
    ids = []
    for title in ("one", "two", "three"):
        issue = add_excerpt(client, editor, draft["id"], kind="info", headline=title, theme="cloud")
    ids = [e["id"] for e in excerpts_of(issue)]
    section_id = issue["sections"][0]["id"]

    reordered = client.put(
        f"/api/v1/issues/{draft['id']}/sections/{section_id}/order",
        json={"ids": [ids[2], ids[0], ids[1]]},
        headers=editor.headers,
    )
    assert [e["headline"] for e in excerpts_of(reordered.json())] == ["three", "one", "two"]

    bad = client.put(
        f"/api/v1/issues/{draft['id']}/sections/{section_id}/order",
        json={"ids": [ids[0], ids[1]]},
        headers=editor.headers,
    )
    assert bad.status_code == 422

    other = client.post(
        f"/api/v1/issues/{draft['id']}/sections",
        json={"title": "Security", "theme": "security"},
        headers=editor.headers,
    ).json()["sections"][1]["id"]
    moved = client.post(
        f"/api/v1/issues/{draft['id']}/excerpts/{ids[0]}/move",
        json={"section_id": other, "position": 0},
        headers=editor.headers,
    )
    sections = moved.json()["sections"]
    assert [e["headline"] for e in sections[0]["excerpts"]] == ["three", "two"]
    assert [e["position"] for e in sections[0]["excerpts"]] == [0, 1]
    assert [e["headline"] for e in sections[1]["excerpts"]] == ["one"]

    order = client.put(
        f"/api/v1/issues/{draft['id']}/sections/order",
        json={"ids": [other, section_id]},
        headers=editor.headers,
    )
    assert [s["title"] for s in order.json()["sections"]] == ["Security", "Cloud"]


def test_a_section_with_excerpts_is_not_deleted(client, people, draft):
    issue = add_excerpt(client, people["editor"], draft["id"], kind="info", headline="x")
    section_id = issue["sections"][0]["id"]
    refused = client.delete(
        f"/api/v1/issues/{draft['id']}/sections/{section_id}", headers=people["editor"].headers
    )
    assert refused.status_code == 409
    excerpt_id = issue["sections"][0]["excerpts"][0]["id"]
    client.delete(
        f"/api/v1/issues/{draft['id']}/excerpts/{excerpt_id}", headers=people["editor"].headers
    )
    emptied = client.delete(
        f"/api/v1/issues/{draft['id']}/sections/{section_id}", headers=people["editor"].headers
    )
    assert emptied.status_code == 200 and emptied.json()["sections"] == []


def test_framing_per_segment_and_segment_filters(client, people, draft, segments):
    management, staff = segments["Top management"], segments["All staff"]
    issue = add_excerpt(
        client,
        people["editor"],
        draft["id"],
        kind="risk",
        headline="End of support for the old VPN",
        body="Update by Friday.",
    )
    excerpt_id = excerpts_of(issue)[0]["id"]
    framed = client.put(
        f"/api/v1/issues/{draft['id']}/excerpts/{excerpt_id}/framings/{management}",
        json={"body": "Risk: **audit finding**; cost of staying: 30k EUR."},
        headers=people["editor"].headers,
    )
    assert framed.status_code == 200
    [framing] = excerpts_of(framed.json())[0]["framings"]
    assert framing["segment_id"] == management
    assert "<strong>audit finding</strong>" in framing["body_html"]

    add_excerpt(
        client,
        people["editor"],
        draft["id"],
        kind="win",
        headline="Board only",
        segment_filter=[management],
    )
    balance = client.get(
        f"/api/v1/issues/{draft['id']}/balance", headers=people["viewer"].headers
    ).json()
    per_segment = {s["segment_id"]: s["counts"] for s in balance["per_segment"]}
    assert per_segment[management]["win"] == 1 and per_segment[staff]["win"] == 0
    assert per_segment[management]["risk"] == per_segment[staff]["risk"] == 1

    not_a_target = client.post(
        "/api/v1/segments",
        json={
            "name": "Key users",
            "rule": {"all": [{"field": "key_user", "op": "eq", "value": "yes"}]},
        },
        headers=people["admin"].headers,
    ).json()["id"]
    refused = client.put(
        f"/api/v1/issues/{draft['id']}/excerpts/{excerpt_id}/framings/{not_a_target}",
        json={"body": "x"},
        headers=people["editor"].headers,
    )
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "segment_id"


def test_every_change_is_audited_with_its_author(client, people, draft, session):
    add_excerpt(client, people["editor"], draft["id"], kind="info", headline="x")
    actions = session.scalars(
        select(AuditEntry.action)
        .where(AuditEntry.object_type == "issue", AuditEntry.actor_label == "editor@example.com")
        .order_by(AuditEntry.id)
    ).all()
    assert actions == ["issue.created", "excerpt.created"]


def test_viewers_read_but_do_not_compose_and_keys_never_compose(client, people, draft, engine):
    from tests.conftest import make_api_key

    viewer = people["viewer"].headers
    assert client.get(f"/api/v1/issues/{draft['id']}", headers=viewer).status_code == 200
    for method, path, body in (
        ("post", "/api/v1/issues", {"title": "x", "planned_date": "2026-12-01"}),
        ("patch", f"/api/v1/issues/{draft['id']}", {"title": "y"}),
        ("post", f"/api/v1/issues/{draft['id']}/excerpts", {"kind": "win", "headline": "x"}),
        ("post", f"/api/v1/issues/{draft['id']}/sections", {"title": "x"}),
        ("post", f"/api/v1/issues/{draft['id']}/submit", {}),
    ):
        assert client.request(method, path, json=body, headers=viewer).status_code == 403, path
    reader_key = {"Authorization": f"Bearer {make_api_key(engine, 'issues:read')}"}
    assert client.get(f"/api/v1/issues/{draft['id']}", headers=reader_key).status_code == 200
    assert (
        client.post(
            "/api/v1/issues", json={"title": "x", "planned_date": "2026-12-01"}, headers=reader_key
        ).status_code
        == 403
    )
    assert client.get("/api/v1/issues").status_code == 401


def test_the_inbox_filters_news_by_use_in_excerpts(client, people, draft, newsroom):
    used, spare = newsroom("win"), newsroom("risk")
    add_excerpt(client, people["editor"], draft["id"], news_item_ids=[used["id"]])

    def ids(**params):
        page = client.get("/api/v1/news-items", params=params, headers=people["editor"].headers)
        return [i["id"] for i in page.json()["items"]]

    assert ids(unused="true") == [spare["id"]]
    assert ids(unused="false") == [used["id"]]
    assert sorted(ids()) == sorted([used["id"], spare["id"]])
