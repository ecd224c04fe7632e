"""The Atom feed of sent issues, and hostile content staying inert in feed and archive."""

from datetime import UTC, datetime

from lxml import etree
from markupsafe import escape

from tests.archive.factories import executable_parts, sent_issue
from tests.delivery.factories import approved_issue

ATOM = "{http://www.w3.org/2005/Atom}"
NOV = datetime(2026, 11, 5, 10, tzinfo=UTC)
DEC = datetime(2026, 12, 3, 10, tzinfo=UTC)
HOSTILE_TITLE = '<script>alert("subject")</script> Bulletin'
HOSTILE_HEADLINE = "<img src=x onerror=alert('headline')>Outage over"
HOSTILE_BODY = (
    "Hi <script>alert('body')</script> <img src=\"x\" onerror=\"alert('img')\"> "
    "[click](javascript:alert('link')) <a href=\"#\" onclick=\"alert('a')\">a</a>"
)


def parse_feed(client):
    answer = client.get("/archive/feed.atom")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/atom+xml")
    return etree.fromstring(answer.content)


def test_the_feed_is_atom_with_one_entry_per_sent_issue(client, engine):
    older = sent_issue(
        engine,
        title="November bulletin",
        headline="Licences",
        body="Saved **120**.",
        finished_at=NOV,
    )
    newer = sent_issue(
        engine,
        title="December bulletin",
        headline="Mail is faster",
        body="Hi {first_name}.",
        finished_at=DEC,
    )
    approved_issue(engine, [], title="Not sent yet")

    feed = parse_feed(client)
    assert feed.tag == f"{ATOM}feed"
    for element in ("id", "title", "updated", "author"):
        assert feed.find(f"{ATOM}{element}") is not None, element
    links = {link.get("rel"): link.get("href") for link in feed.findall(f"{ATOM}link")}
    assert links == {
        "self": "http://testserver/archive/feed.atom",
        "alternate": "http://testserver/archive",
    }
    entries = feed.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}title") for e in entries] == [
        "December bulletin",
        "November bulletin",
    ]
    december = entries[0]
    assert december.findtext(f"{ATOM}id") == f"http://testserver/archive/{newer}"
    assert december.find(f"{ATOM}link").get("href") == f"http://testserver/archive/{newer}"
    assert december.findtext(f"{ATOM}updated").startswith("2026-12-03T10:00:00")
    assert "In this issue: Mail is faster" in december.findtext(f"{ATOM}summary")
    content = december.find(f"{ATOM}content")
    assert content.get("type") == "html"
    assert "Hi colleague." in content.text and "<h3>" in content.text
    november = entries[1].find(f"{ATOM}content").text
    assert "<strong>120</strong>" in november
    assert entries[1].findtext(f"{ATOM}id") == f"http://testserver/archive/{older}"


def test_an_empty_archive_is_still_a_valid_feed(client, engine):
    feed = parse_feed(client)
    assert feed.findall(f"{ATOM}entry") == [] and feed.findtext(f"{ATOM}title")


def test_script_and_event_handlers_stay_inert_in_archive_and_feed(client, engine):
    issue_id = sent_issue(
        engine, title=HOSTILE_TITLE, headline=HOSTILE_HEADLINE, body=HOSTILE_BODY, finished_at=DEC
    )

    listing = client.get("/archive").text
    issue_page = client.get(f"/archive/{issue_id}").text
    for page in (listing, issue_page):
        assert executable_parts(page) == []
    assert str(escape(HOSTILE_TITLE)) in listing  # shown as text, not run

    feed = parse_feed(client)
    [entry] = feed.findall(f"{ATOM}entry")
    title = entry.find(f"{ATOM}title")
    assert title.text == HOSTILE_TITLE and title.get("type", "text") == "text"
    assert entry.find(f"{ATOM}summary").get("type", "text") == "text"
    content = entry.find(f"{ATOM}content").text  # the HTML a feed reader would render
    assert executable_parts(content) == []
    assert "Outage over" in content and "Hi" in content
