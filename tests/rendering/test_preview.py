"""Previewing an issue as each audience gets it, and the public web version."""

import re
from html.parser import HTMLParser

from sqlmodel import Session

from app.subscribers.models import Subscriber
from tests.issues.conftest import add_excerpt


class Page(HTMLParser):
    """Tags, attributes and text of a page, as a browser would see them."""

    def __init__(self):
        super().__init__()
        self.tags, self.attributes, self.chunks = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes.extend(attrs)

    def handle_data(self, data):
        self.chunks.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.chunks).split())


def preview(client, person, issue_id, **params):
    return client.get(f"/api/v1/issues/{issue_id}/preview", params=params, headers=person.headers)


def test_each_segment_sees_its_framing_and_its_filtered_excerpts(client, people, draft, segments):
    editor, management, staff = people["editor"], segments["Top management"], segments["All staff"]
    issue = add_excerpt(
        client,
        editor,
        draft["id"],
        kind="risk",
        headline="Old VPN client",
        body="Update your laptop by Friday.",
    )
    excerpt_id = issue["sections"][0]["excerpts"][0]["id"]
    client.put(
        f"/api/v1/issues/{draft['id']}/excerpts/{excerpt_id}/framings/{management}",
        json={"body": "Audit risk: **30k EUR** if we stay."},
        headers=editor.headers,
    )
    add_excerpt(
        client,
        editor,
        draft["id"],
        kind="win",
        headline="Board-only figures",
        segment_filter=[management],
    )

    for_management = preview(client, people["viewer"], draft["id"], segment_id=management)
    assert for_management.status_code == 200
    assert for_management.headers["content-type"].startswith("text/html")
    assert "<strong>30k EUR</strong>" in for_management.text
    assert "Update your laptop" not in for_management.text
    assert "Board-only figures" in for_management.text

    for_staff = preview(client, people["viewer"], draft["id"], segment_id=staff).text
    assert "Update your laptop" in for_staff and "30k EUR" not in for_staff
    assert "Board-only figures" not in for_staff


def test_the_plain_text_part_comes_from_the_content(client, people, draft):
    add_excerpt(
        client,
        people["editor"],
        draft["id"],
        kind="open_work",
        headline="Licence backlog",
        body="63 requests wait.",
        cta_url="https://sam.example/queue",
        cta_label="See the queue",
    )
    text = preview(client, people["viewer"], draft["id"], format="text")
    assert text.headers["content-type"].startswith("text/plain")
    assert "[OPEN WORK] Licence backlog" in text.text
    assert "See the queue: https://sam.example/queue" in text.text
    assert "<" not in text.text.replace("<it-news@example.com>", "")


def test_a_sample_subscriber_is_greeted_by_name_with_merge_fields(
    client, people, draft, segments, engine
):
    with Session(engine) as db:
        person = Subscriber(
            email="asa@example.com",
            name="Åsa Öberg",
            attributes={"department": "Finance & Controlling"},
        )
        db.add(person)
        db.commit()
        person_id = person.id
    add_excerpt(
        client,
        people["editor"],
        draft["id"],
        kind="info",
        headline="For {name}",
        body="Dear {first_name}, {department} gets new laptops. {unknown} stays.",
    )
    html = preview(client, people["viewer"], draft["id"], subscriber_id=person_id).text
    assert "Hello Åsa," in html
    assert "Dear Åsa, Finance &amp; Controlling gets new laptops. {unknown} stays." in html
    assert "For {name}" in html  # headlines are plain text: no merge fields there
    neutral = preview(client, people["viewer"], draft["id"]).text
    assert "Hello colleague," in neutral and "Dear colleague, your team gets" in neutral
    assert "__DBSLOT_" not in html + neutral


def test_editor_content_is_data_never_markup_or_template(client, people, draft):
    add_excerpt(
        client,
        people["editor"],
        draft["id"],
        kind="info",
        headline="<script>alert(1)</script> {{ ''.__class__ }}",
        body="{{ config }} {% for x in y %} <img src=x onerror=alert(1)> "
        "[click](javascript:alert(1))",
    )
    html = preview(client, people["viewer"], draft["id"]).text
    page = Page()
    page.feed(html)
    assert "script" not in page.tags
    assert "<script>alert(1)</script> {{ ''.__class__ }}" in page.text
    assert "{{ config }} {% for x in y %}" in page.text
    assert not [a for a in page.attributes if a[0].startswith("on")]
    assert not [v for _, v in page.attributes if v and "javascript:" in v.lower()]


def test_preview_validates_its_inputs_and_checks_the_caller(client, people, draft):
    other = client.post(
        "/api/v1/segments",
        headers=people["admin"].headers,
        json={
            "name": "Key users",
            "rule": {"all": [{"field": "key_user", "op": "eq", "value": "yes"}]},
        },
    ).json()["id"]
    refused = preview(client, people["viewer"], draft["id"], segment_id=other)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "segment_id"
    assert preview(client, people["viewer"], 999999).status_code == 404
    assert client.get(f"/api/v1/issues/{draft['id']}/preview").status_code == 401


def test_a_change_shows_in_the_next_preview(client, people, draft):
    issue = add_excerpt(client, people["editor"], draft["id"], kind="win", headline="First")
    assert "First" in preview(client, people["viewer"], draft["id"]).text
    excerpt_id = issue["sections"][0]["excerpts"][0]["id"]
    client.patch(
        f"/api/v1/issues/{draft['id']}/excerpts/{excerpt_id}",
        json={"headline": "Second"},
        headers=people["editor"].headers,
    )
    html = preview(client, people["viewer"], draft["id"]).text
    assert "Second" in html and "First" not in html


def test_the_web_version_has_no_personal_data_and_bad_tokens_get_a_plain_404(
    client, people, draft, engine
):
    with Session(engine) as db:
        person = Subscriber(email="jurgen@example.com", name="Jürgen Weiß")
        db.add(person)
        db.commit()
        person_id = person.id
    add_excerpt(client, people["editor"], draft["id"], kind="win", headline="Faster laptops")
    personal = preview(client, people["viewer"], draft["id"], subscriber_id=person_id).text
    web_url = re.search(r'href="(http://testserver/web/[^"]+)"', personal).group(1)

    web = client.get(web_url.removeprefix("http://testserver"))
    assert web.status_code == 200 and "Faster laptops" in web.text
    assert "Jürgen" not in web.text and "jurgen@example.com" not in web.text
    assert "/u/" not in web.text  # no personal unsubscribe token either
    assert "default-src 'none'" in web.headers["content-security-policy"]

    tampered = client.get(web_url.removeprefix("http://testserver")[:-2] + "xx")
    assert tampered.status_code == 404 and tampered.headers["content-type"].startswith("text/html")
    assert "Traceback" not in tampered.text


def test_the_text_part_reads_markdown_as_prose(client, people, draft):
    add_excerpt(
        client,
        people["editor"],
        draft["id"],
        kind="win",
        headline="Report",
        body="Drained in **14 minutes**; see [the report](https://x.example/r).\n\n"
        "- first\n- second",
    )
    text = preview(client, people["viewer"], draft["id"], format="text").text
    assert "Drained in 14 minutes; see the report (https://x.example/r)." in text
    assert "- first\n- second" in text
    assert "**" not in text


def test_tables_in_the_text_part_keep_their_rows(client, people, draft):
    add_excerpt(
        client,
        people["editor"],
        draft["id"],
        kind="info",
        headline="Uptime",
        body="| Service | Uptime |\n|---|---|\n| Mail | 99.9 % |\n| VPN | 99.5 % |",
    )
    text = preview(client, people["viewer"], draft["id"], format="text").text
    assert "Service | Uptime\nMail | 99.9 %\nVPN | 99.5 %" in text


def test_a_test_send_reaches_the_given_addresses_marked_as_test(
    settings, engine, people, draft, smtp_sink
):
    from fastapi.testclient import TestClient

    from app.main import create_app

    app = create_app(
        settings.model_copy(update={"mail_url": smtp_sink.url(), "webhooks_enabled": False})
    )
    with TestClient(app, base_url="http://testserver") as client:
        add_excerpt(client, people["editor"], draft["id"], kind="win", headline="Faster")
        sent = client.post(
            f"/api/v1/issues/{draft['id']}/test-send",
            json={"emails": ["Editor@Example.com"]},
            headers=people["editor"].headers,
        )
        assert sent.status_code == 200, sent.text
        assert sent.json()[0]["ok"] is True and sent.json()[0]["email"] == "editor@example.com"
        bad = client.post(
            f"/api/v1/issues/{draft['id']}/test-send",
            json={"emails": ["nope"]},
            headers=people["editor"].headers,
        )
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "emails.0"
        assert (
            client.post(
                f"/api/v1/issues/{draft['id']}/test-send",
                json={"emails": ["a@example.com"]},
                headers=people["viewer"].headers,
            ).status_code
            == 403
        )
    app.state.engine.dispose()
    [message] = smtp_sink.received
    assert message.rcpt_tos == ["editor@example.com"]
    assert b"Subject: [Test] IT bulletin #1" in message.content


def test_every_link_of_a_personal_message_is_one_absolute_url(client, people, draft, engine):
    with Session(engine) as db:
        person = Subscriber(email="links@example.com", name="Link Checker")
        db.add(person)
        db.commit()
        person_id = person.id
    add_excerpt(
        client,
        people["editor"],
        draft["id"],
        kind="win",
        headline="Links",
        cta_url="https://intranet.example/news",
    )
    page = Page()
    page.feed(preview(client, people["viewer"], draft["id"], subscriber_id=person_id).text)
    hrefs = [value for name, value in page.attributes if name == "href"]
    assert len(hrefs) >= 6
    for href in hrefs:
        assert re.fullmatch(r"https?://[^/\s]+(/\S*)?", href), href
        assert href.count("://") == 1, href
    assert any("/u/" in h for h in hrefs) and any("/p/" in h for h in hrefs)
