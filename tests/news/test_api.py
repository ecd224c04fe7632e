"""The news intake API (/api/v1/news-items), used as monitoring, ticketing and editors would."""

import time
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.accounts.models import Role
from app.audit.models import AuditEntry
from app.main import create_app
from app.news.models import NewsItem, NewsItemRevision
from app.segments.models import Segment
from tests.conftest import TEST_PASSWORD, make_api_key, make_user

URL = "/api/v1/news-items"
PROBLEM_JSON = "application/problem+json"


def ago(**delta: float) -> datetime:
    return datetime.now(UTC) - timedelta(**delta)


# Fixed once, so that the same payload posted twice is the same payload.
THREE_DAYS_AGO = ago(days=3).isoformat()


def item_body(**overrides) -> dict:
    body = {
        "source": "ticketing",
        "external_id": "REQ-1042",
        "title": "Backlog of licence requests",
        "body": "We have **37** open requests.",
        "link": "https://tickets.example.com/REQ-1042",
        "kind": "open_work",
        "theme": "Licensing",
        "occurred_at": THREE_DAYS_AGO,
    }
    return body | overrides


def post(client, **overrides):
    return client.post(URL, json=item_body(**overrides))


def created(client, **overrides) -> dict:
    response = post(client, **overrides)
    assert response.status_code == 201, response.text
    return response.json()


def assert_problem(response, status: int, field: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    problem = response.json()
    if field is not None:
        assert field in [error["field"] for error in problem["errors"]], problem
    return problem


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def add_segment(session, name: str) -> int:
    segment = Segment(name=name, kind="static")
    session.add(segment)
    session.commit()
    return segment.id


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def titles(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["title"] for item in response.json()["items"]]


@pytest.fixture
def writer(api):
    return api("news:write")


# Intake


def test_a_new_item_is_201_rendered_normalised_and_audited(writer, session):
    management = add_segment(session, "Top management")
    key_users = add_segment(session, "Key users")
    item = created(
        writer,
        suggested_segments=["top MANAGEMENT", key_users, str(management)],
        key_figures=[
            {"label": "open requests", "value": 37},
            {"label": "cost", "value": "1.2k", "unit": "EUR"},
        ],
    )
    assert item["theme"] == "licensing"
    assert item["body_md"] == "We have **37** open requests."
    assert item["body_html"] == "<p>We have <strong>37</strong> open requests.</p>\n"
    assert item["suggested_segment_ids"] == [management, key_users]
    assert item["key_figures"] == [
        {"label": "open requests", "value": 37, "unit": None},
        {"label": "cost", "value": "1.2k", "unit": "EUR"},
    ]
    assert item["flash"] is False and item["resolved"] is False
    assert item["open_since"] is None and item["resolved_at"] is None
    assert item["is_stale"] is False
    assert parse_time(item["stale_at"]) - parse_time(item["occurred_at"]) == timedelta(days=90)
    assert item["created_by"].startswith("api key")
    actions = session.scalars(
        select(AuditEntry.action).where(AuditEntry.object_type == "news_item")
    )
    assert list(actions) == ["news_item.created"]


def test_the_title_is_stored_as_given_and_raw_html_in_the_body_stays_text(writer):
    item = created(
        writer,
        title="<b>Mail</b> & calendar are back",
        body="Check <hostname> & <script>alert(1)</script>",
    )
    assert item["title"] == "<b>Mail</b> & calendar are back"
    assert item["body_html"] == (
        "<p>Check &lt;hostname&gt; &amp; &lt;script&gt;alert(1)&lt;/script&gt;</p>\n"
    )


def test_the_same_post_again_is_200_with_the_same_item_and_no_revision(writer, session):
    first = created(writer)
    again = post(writer)
    assert again.status_code == 200
    assert again.json() == first
    assert count(session, NewsItem) == 1
    assert count(session, NewsItemRevision) == 0
    assert count(session, AuditEntry) == 2  # the key's creation and the item's
    detail = writer.get(f"{URL}/{first['id']}").json()
    assert detail["revisions"] == []


def test_the_same_instant_in_another_offset_is_unchanged(writer, session):
    occurred = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    created(writer, occurred_at=occurred.isoformat())
    same = post(writer, occurred_at="2026-11-20T10:30:00+01:00")
    assert same.status_code == 200
    assert count(session, NewsItemRevision) == 0


def test_a_changed_post_updates_the_item_and_keeps_its_history(writer, session):
    first = created(writer)
    changed = post(writer, title="Backlog shrinking", body="Only *12* left.", theme="LICENSING")
    assert changed.status_code == 200
    item = changed.json()
    assert item["id"] == first["id"]
    assert item["title"] == "Backlog shrinking"
    assert item["body_html"] == "<p>Only <em>12</em> left.</p>\n"
    assert count(session, NewsItem) == 1

    detail = writer.get(f"{URL}/{first['id']}").json()
    [revision] = detail["revisions"]
    assert revision["changed_fields"] == ["body_md", "title"]
    assert revision["previous"] == {
        "title": "Backlog of licence requests",
        "body_md": "We have **37** open requests.",
    }
    assert revision["via"] == "post"
    assert revision["actor_label"].startswith("api key")
    updates = session.scalars(
        select(AuditEntry.details).where(AuditEntry.action == "news_item.updated")
    ).all()
    assert updates == [{"fields": ["body_md", "title"], "via": "post"}]


def test_the_natural_key_is_source_and_external_id(writer, session):
    created(writer)
    created(writer, source="monitoring")
    created(writer, external_id="REQ-1043")
    assert count(session, NewsItem) == 3


def test_a_repost_keeps_an_editors_fix_to_a_field_the_source_did_not_change(writer, session):
    item = created(writer)
    fixed = writer.patch(f"{URL}/{item['id']}", json={"title": "Licence requests: backlog"})
    assert fixed.status_code == 200, fixed.text

    retry = post(writer)
    assert retry.status_code == 200
    assert retry.json()["title"] == "Licence requests: backlog"

    progress = post(writer, body="Now *20* open.")
    assert progress.json()["title"] == "Licence requests: backlog"
    assert progress.json()["body_md"] == "Now *20* open."
    revisions = writer.get(f"{URL}/{item['id']}").json()["revisions"]
    assert [(r["via"], r["changed_fields"]) for r in revisions] == [
        ("post", ["body_md"]),
        ("edit", ["title"]),
    ]


def test_open_work_that_arrives_as_a_win_records_when_it_was_open_and_done(writer, session):
    opened = ago(days=20).replace(microsecond=0)
    closed = ago(days=1).replace(microsecond=0)
    item = created(writer, occurred_at=opened.isoformat())
    assert item["open_since"] is None

    done = post(writer, kind="win", occurred_at=closed.isoformat(), title="Backlog cleared")
    assert done.status_code == 200
    win = done.json()
    assert win["kind"] == "win"
    assert parse_time(win["open_since"]) == opened
    assert parse_time(win["resolved_at"]) == closed
    assert parse_time(win["stale_at"]) == closed + timedelta(days=42)
    [revision] = writer.get(f"{URL}/{item['id']}").json()["revisions"]
    assert revision["changed_fields"] == [
        "kind",
        "occurred_at",
        "open_since",
        "resolved_at",
        "title",
    ]
    assert revision["previous"]["kind"] == "open_work"
    assert revision["previous"]["open_since"] is None


def test_a_win_without_a_new_date_is_done_when_it_arrives(writer):
    opened = ago(days=5)
    created(writer, occurred_at=opened.isoformat())
    before = datetime.now(UTC)
    win = post(writer, kind="win", occurred_at=opened.isoformat()).json()
    assert parse_time(win["open_since"]) == opened
    assert parse_time(win["resolved_at"]) >= before


def test_reopened_work_loses_its_resolution_and_keeps_when_it_was_first_open(writer):
    opened = ago(days=20)
    created(writer, occurred_at=opened.isoformat())
    post(writer, kind="win", occurred_at=ago(days=10).isoformat())
    reopened = post(writer, kind="open_work", occurred_at=ago(days=2).isoformat()).json()
    assert reopened["resolved_at"] is None
    assert parse_time(reopened["open_since"]) == opened
    closed = ago(days=1)
    again = post(writer, kind="win", occurred_at=closed.isoformat()).json()
    assert parse_time(again["open_since"]) == opened
    assert parse_time(again["resolved_at"]) == closed


def test_an_incident_can_be_flashed_and_resolved(writer):
    incident = created(
        writer, source="monitoring", external_id="INC-7", kind="incident", flash=True
    )
    assert incident["flash"] is True and incident["resolved"] is False
    resolved = post(
        writer, source="monitoring", external_id="INC-7", kind="incident", resolved=True
    )
    assert resolved.status_code == 200
    assert resolved.json()["resolved"] is True
    assert resolved.json()["flash"] is False  # the repost is the whole item


# Validation


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "Line one\nline two"}, "title"),
        ({"title": "Bell\x07"}, "title"),
        ({"title": "x" * 301}, "title"),
        ({"source": ""}, "source"),
        ({"external_id": "REQ\x00"}, "external_id"),
        ({"body": "NUL \x00 in the body"}, "body"),
        ({"body": "x" * 50_001}, "body"),
        ({"kind": "triumph"}, "kind"),
        ({"link": "javascript:alert(1)"}, "link"),
        ({"link": "ftp://files.example.com/a"}, "link"),
        ({"link": "/relative/path"}, "link"),
        ({"link": "https://"}, "link"),
        ({"link": "https://exa mple.com"}, "link"),
        ({"theme": "cloud\tsecurity"}, "theme"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"occurred_at": "0001-01-01T00:00:00Z"}, "occurred_at"),
        ({"valid_until": ago(days=10).isoformat()}, "valid_until"),
        ({"resolved": True}, "resolved"),
        ({"key_figures": [{"label": "saved", "value": True}]}, "key_figures.0.value"),
        ({"key_figures": [{"label": "saved", "value": {"a": 1}}]}, "key_figures.0.value"),
        ({"key_figures": [{"label": "", "value": 1}]}, "key_figures.0.label"),
        ({"key_figures": [{"label": "a", "value": 1, "colour": "red"}]}, "key_figures.0.colour"),
        ({"key_figures": [{"label": "n", "value": n} for n in range(11)]}, "key_figures"),
        ({"suggested_segments": ["Nobody"]}, "suggested_segments.0"),
        ({"suggested_segments": [{"id": 1}]}, "suggested_segments.0"),
        ({"suggested_segments": [True]}, "suggested_segments.0"),
        ({"suggested_segments": [99999999999]}, "suggested_segments.0"),
        ({"suggested_segments": list(range(21))}, "suggested_segments"),
        ({"priority": "high"}, "priority"),
    ],
)
def test_invalid_fields_are_a_422_naming_them_and_store_nothing(writer, session, overrides, field):
    problem = assert_problem(post(writer, **overrides), 422, field=field)
    assert all(error["reason"] for error in problem["errors"])
    assert count(session, NewsItem) == 0
    assert count(session, AuditEntry) == 1  # only the key's creation


def test_every_unknown_segment_is_named_by_its_position(writer, session):
    known = add_segment(session, "Key users")
    response = post(writer, suggested_segments=["Key users", "Nobody", known, 424242])
    problem = assert_problem(response, 422)
    assert [e["field"] for e in problem["errors"]] == [
        "suggested_segments.1",
        "suggested_segments.3",
    ]
    assert count(session, NewsItem) == 0


def test_a_missing_required_field_is_named(writer, session):
    body = item_body()
    del body["occurred_at"], body["kind"]
    problem = assert_problem(writer.post(URL, json=body), 422)
    assert {e["field"] for e in problem["errors"]} == {"occurred_at", "kind"}


def test_a_non_finite_key_figure_is_refused(writer, session):
    raw = (
        '{"source": "bi", "external_id": "1", "title": "t", "kind": "info",'
        ' "occurred_at": "2026-11-20T00:00:00Z", "key_figures": [{"label": "x", "value": NaN}]}'
    )
    response = writer.post(URL, content=raw, headers={"content-type": "application/json"})
    assert_problem(response, 422, field="key_figures.0.value")
    assert count(session, NewsItem) == 0


def test_a_refused_change_leaves_the_item_as_it_was(writer, session):
    item = created(writer)
    refused = post(writer, title="New title", suggested_segments=["Nobody"])
    assert_problem(refused, 422, field="suggested_segments.0")
    assert writer.get(f"{URL}/{item['id']}").json()["title"] == item["title"]
    assert count(session, NewsItemRevision) == 0


def test_a_naive_time_is_taken_as_utc(writer):
    item = created(writer, occurred_at="2026-11-20T08:00:00")
    assert parse_time(item["occurred_at"]) == datetime(2026, 11, 20, 8, tzinfo=UTC)


# Limits


def test_a_body_over_the_news_cap_is_a_413_and_stores_nothing(writer, session):
    response = post(writer, body="x" * 70_000)
    assert_problem(response, 413)
    assert count(session, NewsItem) == 0


def test_the_news_cap_holds_for_a_chunked_body_too(writer, session):
    def chunks():
        yield b'{"source": "ci", "external_id": "1", "title": "t", "kind": "info", "body": "'
        for _ in range(10):
            yield b"x" * 10_000
        yield b'", "occurred_at": "2026-11-20T00:00:00Z"}'

    response = writer.post(URL, content=chunks(), headers={"content-type": "application/json"})
    assert_problem(response, 413)
    assert count(session, NewsItem) == 0


def wait_for_a_fresh_minute() -> None:
    # The limit counts per calendar minute; start well inside one so the test cannot straddle.
    second = datetime.now(UTC).second
    if second >= 50:
        time.sleep(60.5 - second)


@pytest.fixture
def limited_apps(settings, engine):
    """Two app processes (as far as the limit can tell) on one database, 3 posts a minute."""
    apps = [create_app(settings.model_copy(update={"news_posts_per_minute": 3})) for _ in "ab"]
    clients = [TestClient(a, base_url="http://testserver") for a in apps]
    for c in clients:
        c.__enter__()
    yield clients
    for c, a in zip(clients, apps, strict=True):
        c.__exit__(None, None, None)
        a.state.engine.dispose()


def test_posts_beyond_the_rate_limit_are_429_across_processes(limited_apps, engine, session):
    first, second = limited_apps
    headers = {"Authorization": f"Bearer {make_api_key(engine, 'news:write')}"}
    wait_for_a_fresh_minute()
    assert first.post(URL, json=item_body(external_id="1"), headers=headers).status_code == 201
    assert second.post(URL, json=item_body(external_id="2"), headers=headers).status_code == 201
    # An invalid post counts too: the limit protects the service, not only the data.
    assert second.post(URL, json=item_body(title=""), headers=headers).status_code == 422

    refused = first.post(URL, json=item_body(external_id="3"), headers=headers)
    assert_problem(refused, 429)
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert count(session, NewsItem) == 2

    other_key = {"Authorization": f"Bearer {make_api_key(engine, 'news:write', name='other')}"}
    assert first.post(URL, json=item_body(external_id="4"), headers=other_key).status_code == 201
    # Reading is not limited.
    assert first.get(URL, headers=headers).status_code == 200


# Permissions


def token_for(client, engine, role: Role) -> dict[str, str]:
    email = f"{role.value}@example.com"
    make_user(engine, email=email, role=role)
    response = client.post("/api/v1/auth/token", json={"email": email, "password": TEST_PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def test_without_a_key_it_is_401(client):
    assert_problem(client.get(URL), 401)
    assert_problem(client.post(URL, json=item_body()), 401)


def test_a_key_without_news_scopes_is_403(api, session):
    client = api("subscribers:read", "subscribers:write")
    assert_problem(client.get(URL), 403)
    assert_problem(client.post(URL, json=item_body()), 403)
    assert count(session, NewsItem) == 0


def test_issues_read_may_read_but_not_write(api, engine):
    item = created(api("news:write"))
    reader = api("issues:read")
    assert reader.get(f"{URL}/{item['id']}").status_code == 200
    assert titles(reader.get(URL)) == [item["title"]]
    assert_problem(reader.post(URL, json=item_body()), 403)
    assert_problem(reader.patch(f"{URL}/{item['id']}", json={"title": "x"}), 403)
    assert_problem(reader.post(f"{URL}/{item['id']}/archive"), 403)


def test_a_viewer_reads_and_an_editor_writes_with_their_tokens(client, engine):
    viewer = token_for(client, engine, Role.viewer)
    editor = token_for(client, engine, Role.editor)
    made = client.post(URL, json=item_body(), headers=editor)
    assert made.status_code == 201, made.text
    assert made.json()["created_by"] == "editor@example.com"
    assert client.get(URL, headers=viewer).status_code == 200
    refused = client.post(URL, json=item_body(external_id="2"), headers=viewer)
    assert_problem(refused, 403)
    assert "viewer@example.com" in refused.json()["detail"]
    edit = client.patch(f"{URL}/{made.json()['id']}", json={"title": "x"}, headers=viewer)
    assert_problem(edit, 403)


# Reading and filtering


@pytest.fixture
def inbox(writer):
    """Five items over the last months; returns their ids by external_id."""
    specs = [
        ("win-old", "win", "Cloud", "ci", ago(days=60), None),
        ("win-new", "win", "cloud", "ci", ago(days=2), None),
        ("risk", "risk", "Security", "monitoring", ago(days=10), None),
        ("info-kept", "info", "security", "monitoring", ago(days=100), ago(days=-5)),
        ("incident", "incident", "service desk", "monitoring", ago(days=20), None),
    ]
    ids = {}
    for external_id, kind, theme, source, occurred, valid_until in specs:
        item = created(
            writer,
            external_id=external_id,
            title=external_id,
            kind=kind,
            theme=theme,
            source=source,
            occurred_at=occurred.isoformat(),
            valid_until=valid_until.isoformat() if valid_until else None,
        )
        ids[external_id] = item["id"]
    return ids


def test_the_inbox_lists_newest_first_and_filters(writer, inbox):
    assert titles(writer.get(URL)) == ["incident", "info-kept", "risk", "win-new", "win-old"]
    assert titles(writer.get(URL, params={"kind": "win"})) == ["win-new", "win-old"]
    assert titles(writer.get(URL, params={"kind": ["risk", "incident"]})) == ["incident", "risk"]
    assert titles(writer.get(URL, params={"theme": "CLOUD"})) == ["win-new", "win-old"]
    assert titles(writer.get(URL, params={"source": "ci"})) == ["win-new", "win-old"]
    since = ago(days=15).isoformat()
    assert titles(writer.get(URL, params={"since": since})) == ["risk", "win-new"]
    both = {"kind": "win", "since": since}
    assert titles(writer.get(URL, params=both)) == ["win-new"]


def test_staleness_follows_the_kind_window_or_valid_until(writer, inbox):
    stale = writer.get(URL, params={"stale": "true"})
    # a win after 42 days and an incident after 14 are stale; valid_until keeps an old info
    assert titles(stale) == ["incident", "win-old"]
    assert all(item["is_stale"] for item in stale.json()["items"])
    fresh = writer.get(URL, params={"stale": "false"})
    assert titles(fresh) == ["info-kept", "risk", "win-new"]
    assert not any(item["is_stale"] for item in fresh.json()["items"])


def test_a_new_valid_until_makes_an_item_topical_again(writer, inbox):
    item_id = inbox["win-old"]
    response = writer.patch(f"{URL}/{item_id}", json={"valid_until": ago(days=-7).isoformat()})
    assert response.status_code == 200, response.text
    assert response.json()["is_stale"] is False
    cleared = writer.patch(f"{URL}/{item_id}", json={"valid_until": None})
    assert cleared.json()["is_stale"] is True


def test_the_windows_come_from_the_settings(settings, engine):
    application = create_app(settings.model_copy(update={"stale_after_days": {"win": 1}}))
    headers = {"Authorization": f"Bearer {make_api_key(engine, 'news:write')}"}
    with TestClient(application, base_url="http://testserver") as client:
        item = client.post(URL, json=item_body(kind="win"), headers=headers).json()
    application.state.engine.dispose()
    assert item["is_stale"] is True
    assert parse_time(item["stale_at"]) - parse_time(item["occurred_at"]) == timedelta(days=1)


def test_pages_follow_the_cursor_to_the_end(writer, inbox):
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = writer.get(URL, params=params).json()
        seen += [item["title"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["incident", "info-kept", "risk", "win-new", "win-old"]
    assert_problem(writer.get(URL, params={"cursor": "not-a-cursor"}), 422, field="cursor")


def test_an_unknown_id_is_404(writer):
    assert_problem(writer.get(f"{URL}/4242"), 404)
    assert_problem(writer.patch(f"{URL}/4242", json={"title": "x"}), 404)
    assert_problem(writer.post(f"{URL}/4242/archive"), 404)
    # Beyond the ids the database stores (the document says 1 to 2**31 - 1): refused as input.
    assert_problem(writer.get(f"{URL}/99999999999"), 422)
    assert_problem(writer.get(f"{URL}/0"), 422)


# Editing and archiving


def test_an_edit_records_a_revision_and_re_renders(writer, session):
    item = created(writer)
    edited = writer.patch(
        f"{URL}/{item['id']}", json={"body": "# Done\n\nAll *clear*.", "link": None}
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["body_html"] == "<h3>Done</h3>\n<p>All <em>clear</em>.</p>\n"
    assert edited.json()["link"] is None
    [revision] = writer.get(f"{URL}/{item['id']}").json()["revisions"]
    assert revision["via"] == "edit"
    assert revision["changed_fields"] == ["body_md", "link"]
    assert revision["previous"]["link"] == "https://tickets.example.com/REQ-1042"


def test_an_edit_that_changes_nothing_records_nothing(writer, session):
    item = created(writer)
    same = writer.patch(f"{URL}/{item['id']}", json={"title": item["title"], "theme": "LICENSING"})
    assert same.status_code == 200
    assert count(session, NewsItemRevision) == 0
    assert count(session, AuditEntry) == 2


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": None}, "title"),
        ({"kind": None}, "kind"),
        ({"source": "other"}, "source"),
        ({"external_id": "other"}, "external_id"),
        ({"valid_until": "2000-01-01T00:00:00Z"}, "valid_until"),
        ({"resolved": True}, "resolved"),
        ({"suggested_segments": ["Nobody"]}, "suggested_segments.0"),
    ],
)
def test_an_invalid_edit_is_a_422_and_changes_nothing(writer, session, change, field):
    item = created(writer)
    assert_problem(writer.patch(f"{URL}/{item['id']}", json=change), 422, field=field)
    assert writer.get(f"{URL}/{item['id']}").json() == item | {"revisions": []}


def test_an_archived_item_leaves_the_inbox_but_stays_readable(writer, session):
    kept = created(writer, external_id="kept")
    gone = created(writer, external_id="gone", title="Gone")
    archived = writer.post(f"{URL}/{gone['id']}/archive")
    assert archived.status_code == 200
    assert archived.json()["archived_at"] is not None
    assert writer.post(f"{URL}/{gone['id']}/archive").json() == archived.json()

    assert [i["id"] for i in writer.get(URL).json()["items"]] == [kept["id"]]
    only_archived = writer.get(URL, params={"archived": "true"}).json()["items"]
    assert [i["id"] for i in only_archived] == [gone["id"]]
    assert writer.get(f"{URL}/{gone['id']}").status_code == 200
    archivings = session.scalars(
        select(AuditEntry.object_id).where(AuditEntry.action == "news_item.archived")
    ).all()
    assert archivings == [str(gone["id"])]
    # A repost updates the item but leaves archiving to the editors.
    assert post(writer, external_id="gone", title="Back").json()["archived_at"] is not None
