"""The intranet archive: sent issues only, newest first, as everyone reads them."""

import re
from datetime import UTC, datetime

from app.archive.service import PAGE_SIZE
from tests.archive.factories import bare_sent_issues, executable_parts, mark_sent, sent_issue
from tests.delivery.factories import approved_issue, people, static_segment

NOV = datetime(2026, 11, 5, 10, tzinfo=UTC)
DEC = datetime(2026, 12, 3, 10, tzinfo=UTC)


def test_lists_sent_issues_newest_first_and_nothing_unsent(client, engine):
    older = sent_issue(engine, title="November bulletin", headline="A", body="a", finished_at=NOV)
    newer = sent_issue(engine, title="December bulletin", headline="B", body="b", finished_at=DEC)
    approved_issue(engine, [], title="Not sent yet")

    page = client.get("/archive")
    assert page.status_code == 200
    assert page.text.index("December bulletin") < page.text.index("November bulletin")
    assert "Not sent yet" not in page.text
    assert f'href="/archive/{newer}"' in page.text and f'href="/archive/{older}"' in page.text
    assert '<time datetime="2026-12-03">3 Dec 2026</time>' in page.text
    assert re.search(
        r'<link rel="alternate" type="application/atom\+xml"[^>]*href="/archive/feed.atom"',
        page.text,
    )
    assert 'href="/feedback"' in page.text
    assert "script-src" not in page.headers["content-security-policy"]
    assert "default-src 'none'" in page.headers["content-security-policy"]


def test_an_issue_reads_as_its_web_version_without_anything_personal(app, client, engine):
    ids = people(engine, 3, prefix="kim")
    segment = static_segment(engine, "All staff", ids)
    issue_id = approved_issue(engine, [segment], title="December bulletin")
    mark_sent(engine, issue_id, finished_at=DEC)

    page = client.get(f"/archive/{issue_id}")
    assert page.status_code == 200
    assert "Mail is faster" in page.text and "Backlog" in page.text
    assert "Hello colleague, it is." in page.text  # the merge field, neutral
    assert 'href="/archive"' in page.text  # the bar back to the list
    for personal in ("Person kim", "kim0@", "kim1@", "kim2@"):
        assert personal not in page.text
    signer_paths = re.findall(r"http://testserver/(u|p|o)/[A-Za-z0-9_.-]+", page.text)
    assert signer_paths == []  # no unsubscribe or preference link of a person, no pixel
    assert executable_parts(page.text) == []
    assert "default-src 'none'" in page.headers["content-security-policy"]

    # Its unsubscribe and preference links cannot name a person: they explain where to go.
    assert page.text.count('href="http://testserver/preferences"') == 2
    explained = client.get("/preferences")
    assert explained.status_code == 200
    assert "link at the bottom of a bulletin that was sent to you" in explained.text


def test_unsent_and_unknown_issues_are_a_plain_404_page(client, engine):
    draft = approved_issue(engine, [], title="Approved, not sent")
    for path in (f"/archive/{draft}", "/archive/999999", "/archive/abc", "/archive/-1"):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"].startswith("text/html")
        assert "Approved, not sent" not in answer.text


def test_pages_of_twenty(client, engine):
    bare_sent_issues(engine, PAGE_SIZE + 3)
    first = client.get("/archive")
    assert (
        first.text.count('href="/archive/') - first.text.count('href="/archive/feed') == PAGE_SIZE
    )
    assert "Page 1 of 2" in first.text and 'href="/archive?page=2"' in first.text
    second = client.get("/archive?page=2")
    titles = re.findall(r'<a href="/archive/\d+">(Bulletin \d+)</a>', second.text)
    assert len(titles) == 3 and "Bulletin 0" in titles  # the oldest come last
    assert client.get("/archive?page=nonsense").status_code == 200
    assert "No issues on this page" in client.get("/archive?page=9").text
