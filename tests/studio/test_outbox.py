"""The outbox in the studio: messages a real send wrote to the Maildir transport, listed
newest first with pages, each readable (headers, text part, HTML part in a sandboxed frame
under a strict policy); where mail goes when it is not a Maildir; admins only."""

import re
import threading

import pytest

from app.accounts.models import Role
from app.delivery.models import RunState
from app.delivery.transports import transport_from_url
from tests.conftest import run_coroutine
from tests.delivery.factories import approved_issue, people, static_segment
from tests.delivery.test_send import run_send, start
from tests.studio.conftest import csp_violations
from tests.studio.helpers import htmx, sign_in


def sent_into_the_outbox(app, engine, settings, count: int = 2, prefix: str = "ob") -> int:
    """An issue sent for real through the app's transport (maildir://, see tests/conftest)."""
    ids = people(engine, count, prefix=prefix)
    issue_id = approved_issue(engine, [static_segment(engine, "Outbox", ids)], title="Outbox test")
    start(engine, issue_id)
    assert run_send(app, engine, issue_id, settings.mail_url) == RunState.done
    return issue_id


def newest_outbox_key(app, engine, settings) -> str:
    """Send an issue in a thread of its own (a browser test's thread has Playwright's event
    loop) and answer the key of the newest message in the outbox."""
    thread = threading.Thread(target=sent_into_the_outbox, args=(app, engine, settings, 3, "sh"))
    thread.start()
    thread.join()
    return transport_from_url(settings.mail_url).list_messages(1)[0].key


def keys_of(page: str) -> list[str]:
    return re.findall(r'<a href="/studio/outbox/([^"/]+)">', page)


def test_the_outbox_lists_what_was_sent_and_shows_each_part(app, client, engine, settings):
    sent_into_the_outbox(app, engine, settings)
    sign_in(client, engine, Role.admin)

    page = client.get("/studio/outbox")

    assert page.status_code == 200
    assert "the outbox folder" in page.text
    rows = re.findall(r'<tr data-testid="outbox-message">.*?</tr>', page.text, re.S)
    newest = rows[:2]
    assert all("Outbox test" in row for row in newest), newest
    assert sorted(re.search(r"ob\d@example.com", row).group(0) for row in newest) == [
        "ob0@example.com",
        "ob1@example.com",
    ]
    key = keys_of(page.text)[0]

    detail = client.get(f"/studio/outbox/{key}")
    assert detail.status_code == 200
    assert re.search(r"<dt>To</dt><dd>ob\d@example.com</dd>", detail.text)
    assert '<th scope="row">Subject</th>' in detail.text and "List-Unsubscribe" in detail.text
    text_part = re.search(r'<pre class="message-text"[^>]*>(.*?)</pre>', detail.text, re.S)
    assert "Mail is faster" in text_part.group(1)
    frame = re.search(r"<iframe [^>]*>", detail.text).group(0)
    assert 'sandbox=""' in frame and f'src="/studio/outbox/{key}/html"' in frame

    html = client.get(f"/studio/outbox/{key}/html")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    policy = html.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "sandbox" in policy and "script-src" not in policy
    assert "img-src data:;" in policy  # no remote image: the pixel would count an open
    assert html.headers["x-frame-options"] == "SAMEORIGIN"
    assert "Mail is faster" in html.text and '<base target="_blank">' in html.text
    # The open pixel is in the message, but has no source to load here (policy or not).
    assert "/o/" in html.text and not re.search(r"<img[^>]*\ssrc=\"https?://", html.text)


def test_pages_newest_first_and_readable_errors(app, client, engine, settings):
    sent_into_the_outbox(app, engine, settings, count=30, prefix="pg")
    sign_in(client, engine, Role.admin)
    first = client.get("/studio/outbox").text
    second = client.get("/studio/outbox?page=2", headers=htmx()).text
    assert len(keys_of(first)) == 25 and "<html" not in second
    assert not set(keys_of(first)) & set(keys_of(second))
    assert 'href="/studio/outbox?page=2"' in first and 'href="/studio/outbox?page=1"' in second
    for bad in ("page=0", "page=two"):
        answer = client.get(f"/studio/outbox?{bad}")
        assert answer.status_code == 422 and "page" in answer.text
    assert client.get("/studio/outbox/1234.M5P6Q7.nowhere").status_code == 404
    assert client.get("/studio/outbox/..%2F..%2Fetc%2Fpasswd").status_code == 404


def test_with_smtp_the_page_says_where_mail_goes(app, client, engine, settings):
    url = "smtp://u:secret@mail.example.com:587?starttls=true"
    app.state.settings = settings.model_copy(update={"mail_url": url})
    try:
        sign_in(client, engine, Role.admin)
        page = client.get("/studio/outbox").text
        missing = client.get("/studio/outbox/any-key")
    finally:
        app.state.settings = settings
    assert "the SMTP relay mail.example.com:587 (STARTTLS)" in page and "secret" not in page
    assert 'data-testid="outbox-elsewhere"' in page
    assert missing.status_code == 404


def test_only_admins_see_and_open_the_outbox(app, client, engine, settings):
    sent_into_the_outbox(app, engine, settings, count=1, prefix="ad")
    sign_in(client, engine, Role.editor)
    assert 'href="/studio/outbox"' not in client.get("/studio").text
    for path in ("/studio/outbox", "/studio/outbox/any", "/studio/outbox/any/html"):
        assert client.get(path).status_code == 403, path


def test_a_text_only_message_in_an_unknown_charset_is_shown_as_well_as_it_goes(
    client, engine, settings
):
    outbox = transport_from_url(settings.mail_url)
    message = (
        b"From: it-news@example.com\r\nTo: kim@example.com\r\nSubject: Plain\r\n"
        b"Date: Tue, 01 Dec 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=x-unheard-of\r\n\r\nOnly text, caf\xe9.\r\n"
    )
    reply = run_coroutine(
        outbox.send(sender="it-news@example.com", recipient="kim@example.com", message=message)
    )
    key = reply.removeprefix("250 stored ")
    sign_in(client, engine, Role.admin)

    page = client.get(f"/studio/outbox/{key}")

    assert page.status_code == 200
    assert "Only text, caf\ufffd." in page.text and "This message has no HTML part." in page.text
    assert "<iframe" not in page.text
    assert client.get(f"/studio/outbox/{key}/html").status_code == 404


@pytest.mark.browser
def test_in_chromium_the_framed_message_loads_nothing_and_its_links_open_nothing(
    studio_as, live_server, app, engine, settings
):
    key = newest_outbox_key(app, engine, settings)
    page = studio_as(Role.admin)  # the studio's policy enforced, and the message's own
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{live_server}/studio/outbox/{key}")
    frame = page.frame_locator("iframe[data-testid=html-part]")
    unsubscribe = frame.get_by_role("link", name="Unsubscribe")
    unsubscribe.wait_for()

    unsubscribe.click()
    page.wait_for_timeout(300)

    tracked = [url for url in requested if re.search(r"/(o|c|u|f)/", url)]
    assert tracked == []  # no pixel, no click redirect, no unsubscribe: nothing was counted
    assert not csp_violations(page), page.problems
    assert all("allow-popups" in problem for problem in page.problems), page.problems
