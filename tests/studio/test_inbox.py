"""The inbox without a browser: filters in the URL, fragments, add to issue, hand-written items."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.accounts.models import Role
from app.issues.models import Excerpt
from app.news.models import NewsItem
from tests.studio import factories
from tests.studio.helpers import csrf_of, htmx, sign_in


def test_one_url_serves_the_page_or_for_htmx_only_the_list(client, engine, session):
    factories.news_item(session, title="Backup restored", kind="win")
    factories.news_item(session, title="Licence backlog", kind="open_work", theme="licensing")
    session.commit()
    sign_in(client, engine, Role.editor)

    page = client.get("/studio/inbox?kind=open_work")
    assert page.status_code == 200 and "<html" in page.text and 'aria-label="Studio"' in page.text
    assert "Licence backlog" in page.text and "Backup restored" not in page.text
    assert page.headers["vary"] == "HX-Request"

    fragment = client.get("/studio/inbox?kind=open_work", headers=htmx())
    assert "<html" not in fragment.text and "<table" in fragment.text
    assert "Licence backlog" in fragment.text and "Backup restored" not in fragment.text
    # A boosted link or a history restore wants the whole page again.
    assert "<html" in client.get("/studio/inbox", headers=htmx(**{"HX-Boosted": "true"})).text
    restore = htmx(**{"HX-History-Restore-Request": "true"})
    assert "<html" in client.get("/studio/inbox", headers=restore).text


def test_filters_by_theme_source_age_and_staleness(client, engine, session):
    factories.news_item(session, title="Old incident", kind="incident",
                        occurred_at=datetime.now(UTC) - timedelta(days=60))  # fmt: skip
    factories.news_item(session, title="Fresh licence news", theme="licensing", source="ticketing")
    session.commit()
    sign_in(client, engine, Role.viewer)

    assert "Old incident" not in client.get("/studio/inbox?age=30").text
    stale = client.get("/studio/inbox?stale=stale", headers=htmx()).text
    assert "Old incident" in stale and "Fresh licence news" not in stale
    assert 'class="badge stale"' in stale
    by_source = client.get("/studio/inbox?source=ticketing&theme=licensing", headers=htmx()).text
    assert "Fresh licence news" in by_source and "Old incident" not in by_source


def test_pages_keep_their_filters_in_the_older_link(client, engine, session):
    for n in range(27):
        factories.news_item(session, title=f"Win number {n}")
    session.commit()
    sign_in(client, engine, Role.viewer)
    first = client.get("/studio/inbox?kind=win", headers=htmx()).text
    assert first.count('data-testid="news-item"') == 25
    older = first.split('hx-get="')[-1].split('"')[0].replace("&amp;", "&")
    assert older.startswith("/studio/inbox?kind=win&cursor=")
    assert client.get(older, headers=htmx()).text.count('data-testid="news-item"') == 2


def test_an_editor_adds_an_item_to_an_open_issue_in_one_request(client, engine, session):
    item = factories.news_item(session, title="Mail delays resolved")
    issue = factories.issue(session)
    session.commit()
    sign_in(client, engine, Role.editor)
    token = csrf_of(client, "/studio/inbox")

    added = client.post(
        f"/studio/inbox/{item.id}/add",
        data={"issue_id": issue.id},
        headers=htmx(**{"X-CSRF-Token": token}),
    )
    assert added.status_code == 200, added.text
    assert f"issue #{issue.number}" in added.text and "<html" not in added.text
    excerpt = session.scalar(select(Excerpt).where(Excerpt.issue_id == issue.id))
    assert excerpt.headline == "Mail delays resolved"
    assert f"in issue #{issue.number}" in client.get("/studio/inbox").text


def test_a_viewer_is_not_offered_the_add_button_and_is_refused_anyway(client, engine, session):
    item = factories.news_item(session)
    issue = factories.issue(session)
    session.commit()
    sign_in(client, engine, Role.viewer)
    page = client.get("/studio/inbox").text
    assert "/add" not in page and "Write an item" not in page
    token = csrf_of(client, "/studio/inbox")
    refused = client.post(
        f"/studio/inbox/{item.id}/add", data={"issue_id": issue.id, "csrf_token": token}
    )
    assert refused.status_code == 403
    assert client.get("/studio/inbox/new").status_code == 403


def test_a_hand_written_item_reports_field_errors_and_then_lands_in_the_inbox(
    client, engine, session
):
    sign_in(client, engine, Role.editor)
    token = csrf_of(client, "/studio/inbox/new")
    form = {"csrf_token": token, "title": "  ", "kind": "win", "occurred_at": "2026-11-30",
            "link": "ftp://files.example.com"}  # fmt: skip
    refused = client.post("/studio/inbox/new", data=form)
    assert refused.status_code == 422
    assert 'id="title-error"' in refused.text and 'id="link-error"' in refused.text
    assert 'value="ftp://files.example.com"' in refused.text  # nothing typed is lost

    form.update(title="Printer fleet renewed", link="https://intranet.example.com/printers")
    done = client.post("/studio/inbox/new", data=form, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"].startswith("/studio/inbox?")
    item = session.scalar(select(NewsItem).where(NewsItem.title == "Printer fleet renewed"))
    assert item.source == "studio" and item.created_by == "editor@example.com"
    assert "Printer fleet renewed" in client.get(done.headers["location"]).text
