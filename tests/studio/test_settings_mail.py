"""The mail transport in the settings: shown with its password masked, and a test message
through a real SMTP sink (aiosmtpd), a port nobody listens on, and the Maildir outbox."""

import socket
from email import message_from_bytes

import pytest
from sqlalchemy import select

from app.accounts.models import Role
from app.audit.models import AuditEntry
from app.web.settings import MAIL_TESTS_PER_MINUTE
from tests.studio.helpers import csrf_of, htmx, sign_in

MAIL = "/studio/settings/mail"


@pytest.fixture
def mail_url(app):
    """Point the app's configured transport at `url` for this test."""
    before = app.state.settings

    def to(url: str) -> None:
        app.state.settings = before.model_copy(update={"mail_url": url})

    yield to
    app.state.settings = before


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_page_names_the_transport_and_masks_its_password(client, engine, mail_url):
    mail_url("smtp://relay:s3cr%40t-pw@127.0.0.1:2525?timeout=5")
    sign_in(client, engine, Role.admin)
    page = client.get(MAIL).text
    assert "SMTP relay" in page and "smtp://relay:***@127.0.0.1:2525?timeout=5" in page
    assert "s3cr" not in page and "127.0.0.1:2525, plain, with a login" in page
    assert "s3cr" not in client.get("/studio/settings").text


def test_a_test_message_reaches_the_smtp_sink(client, engine, session, smtp_sink, mail_url):
    mail_url(smtp_sink.url())
    sign_in(client, engine, Role.admin)
    answer = client.post(
        f"{MAIL}/test",
        data={"csrf_token": csrf_of(client, MAIL), "email": "Me@Example.com"},
        headers=htmx(),
    )
    assert answer.status_code == 200, answer.text
    assert "Accepted" in answer.text and "250 2.0.0 Ok: queued as Q1" in answer.text
    assert answer.text.lstrip().startswith('<section class="card" id="mail-test"')
    [received] = smtp_sink.received
    assert received.rcpt_tos == ["me@example.com"]
    message = message_from_bytes(received.content)
    assert message["Subject"] == "Drumbeat: test of the mail transport"
    assert "admin@example.com" in message.get_payload()
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "mail.test_sent"))
    assert entry.details["to"] == "me@example.com" and entry.details["accepted"] is True


def test_a_transport_nobody_answers_is_reported_in_plain_words(client, engine, session, mail_url):
    port = unused_port()
    mail_url(f"smtp://127.0.0.1:{port}")
    sign_in(client, engine, Role.admin)
    answer = client.post(
        f"{MAIL}/test", data={"csrf_token": csrf_of(client, MAIL), "email": "me@example.com"}
    )
    assert answer.status_code == 200
    assert "Not sent" in answer.text
    assert f"could not be handed over: connecting to 127.0.0.1:{port}" in answer.text
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "mail.test_sent"))
    assert entry.details["accepted"] is False


def test_the_maildir_outbox_takes_the_message(client, engine, app):
    sign_in(client, engine, Role.admin)
    page = client.get(MAIL).text
    assert "Maildir outbox" in page
    answer = client.post(
        f"{MAIL}/test", data={"csrf_token": csrf_of(client, MAIL), "email": "me@example.com"}
    )
    assert "Accepted" in answer.text and "250 stored" in answer.text


def test_a_bad_address_is_reported_beside_the_field(client, engine, smtp_sink, mail_url):
    mail_url(smtp_sink.url())
    sign_in(client, engine, Role.admin)
    answer = client.post(f"{MAIL}/test", data={"csrf_token": csrf_of(client, MAIL), "email": "me"})
    assert answer.status_code == 422 and 'id="test-email-error"' in answer.text
    assert 'value="me"' in answer.text and smtp_sink.received == []


def test_test_messages_are_rate_limited(client, engine, smtp_sink, mail_url):
    mail_url(smtp_sink.url())
    sign_in(client, engine, Role.admin)
    form = {"csrf_token": csrf_of(client, MAIL), "email": "me@example.com"}
    for _ in range(MAIL_TESTS_PER_MINUTE):
        assert client.post(f"{MAIL}/test", data=form).status_code == 200
    limited = client.post(f"{MAIL}/test", data=form, headers=htmx())
    assert limited.status_code == 422 and limited.headers["retry-after"] == "60"
    assert 'id="test-email-error"' in limited.text
    assert "test messages a minute" in limited.text
    assert len(smtp_sink.received) == MAIL_TESTS_PER_MINUTE


def test_an_unusable_mail_url_is_explained(client, engine, mail_url):
    mail_url("smtp://user:pw@mail.example.com:25")
    sign_in(client, engine, Role.admin)
    page = client.get(MAIL).text
    assert "not usable" in page and "unencrypted" in page and ":pw@" not in page
    answer = client.post(
        f"{MAIL}/test", data={"csrf_token": csrf_of(client, MAIL), "email": "me@example.com"}
    )
    assert "The mail transport is not usable" in answer.text and ":pw@" not in answer.text
