"""The mail transports against real servers: aiosmtpd, and a scripted faulty SMTP server."""

import asyncio
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from app.config import Settings
from app.delivery.transports import (
    MaildirTransport,
    PermanentFailure,
    SmtpTransport,
    TemporaryFailure,
    UncertainFailure,
    transport_from_url,
)
from tests.smtp_servers import server_tls_context

pytestmark = pytest.mark.anyio

SENDER = "bounces@example.com"
# Lines a careless client would mangle: leading dots, a lone dot, 8-bit text, a blank line.
BODY = "Hello,\r\n.starts with a dot\r\n.\r\n..\r\n\r\nGrüße aus der IT\r\n"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # aiosmtplib runs on asyncio only


def make_message(
    *, to: str = "ada@example.com", subject: str = "IT bulletin", body: str = BODY
) -> bytes:
    headers = [
        f"From: IT department <{SENDER}>",
        f"To: {to}",
        f"Subject: {subject}",
        "Date: Thu, 26 Nov 2026 10:00:00 +0000",
        "Message-ID: <issue-1.subscriber-1@example.com>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
    ]
    return ("\r\n".join(headers) + "\r\n\r\n" + body).encode()


@asynccontextmanager
async def smtp(url: str, *, pool_size: int = 4, rate_per_second: float | None = None):
    transport = transport_from_url(url, pool_size=pool_size, rate_per_second=rate_per_second)
    assert isinstance(transport, SmtpTransport)
    try:
        yield transport
    finally:
        await transport.close()


async def send(transport, to: str = "ada@example.com", **message_options) -> str:
    message = make_message(to=to, **message_options)
    return await transport.send(sender=SENDER, recipient=to, message=message)


# Delivery and the pool


async def test_messages_arrive_byte_identical(smtp_sink):
    message = make_message()
    async with smtp(smtp_sink.url()) as transport:
        reply = await transport.send(sender=SENDER, recipient="ada@example.com", message=message)

    assert reply == "250 2.0.0 Ok: queued as Q1"
    [received] = smtp_sink.received
    assert received.content == message
    assert (received.mail_from, received.rcpt_tos) == (SENDER, ["ada@example.com"])
    assert "BODY=8BITMIME" in received.mail_options
    assert f"SIZE={len(message)}" in received.mail_options


async def test_a_non_ascii_address_needs_smtputf8(smtp_sink, faulty_smtp):
    async with smtp(smtp_sink.url()) as transport:
        await send(transport, to="jürgen@example.com")
    assert smtp_sink.received[0].rcpt_tos == ["jürgen@example.com"]
    assert "SMTPUTF8" in smtp_sink.received[0].mail_options

    async with smtp(faulty_smtp.url()) as transport:  # offers no SMTPUTF8
        with pytest.raises(PermanentFailure, match="SMTPUTF8") as refused:
            await send(transport, to="jürgen@example.com")
    assert refused.value.code is None
    assert "MAIL" not in faulty_smtp.connections[0].commands


async def test_an_address_with_line_breaks_is_refused_before_sending(smtp_sink):
    async with smtp(smtp_sink.url()) as transport:
        with pytest.raises(PermanentFailure, match="invalid address"):
            await send(transport, to="ada@example.com\r\nRCPT TO:<eve@example.com>")
    assert smtp_sink.received == []
    assert transport.connections_opened == 0


async def test_the_pool_reuses_a_warm_connection(smtp_sink):
    async with smtp(smtp_sink.url(), pool_size=4) as transport:
        for number in range(20):
            await send(transport, to=f"reader{number}@example.com")

    assert len(smtp_sink.received) == 20
    assert smtp_sink.connections == 1


async def test_concurrent_sends_share_the_pool(faulty_smtp):
    faulty_smtp.reply_delay = 0.01  # slow enough that the sends overlap
    async with smtp(faulty_smtp.url(), pool_size=4) as transport:
        await asyncio.gather(*(send(transport, to=f"r{n}@example.com") for n in range(40)))

    assert len(faulty_smtp.connections) == transport.connections_opened == 4
    transactions = [log.transactions for log in faulty_smtp.connections]
    assert sum(transactions) == 40 and min(transactions) > 0
    assert [log.commands[-1] for log in faulty_smtp.connections] == ["QUIT"] * 4


async def test_the_rate_limit_holds_across_the_pool(smtp_sink):
    rate = 40
    async with smtp(smtp_sink.url(), pool_size=4, rate_per_second=rate) as transport:
        await asyncio.gather(*(send(transport, to=f"r{n}@example.com") for n in range(30)))

    arrivals = sorted(message.at for message in smtp_sink.received)
    assert len(arrivals) == 30
    # Unpaced, all 30 arrive within a few milliseconds; paced, a quarter second holds
    # rate / 4 of them plus the one the bucket starts with (and a little slack).
    in_first_window = [at for at in arrivals if at - arrivals[0] < 0.25]
    assert 5 <= len(in_first_window) <= 13
    assert arrivals[-1] - arrivals[0] >= 0.5  # 29 intervals of 25 ms at the configured rate


# Failures: what the caller may do next


@pytest.mark.parametrize("stage", ["MAIL", "RCPT", "DATA"])
async def test_a_temporary_refusal_resets_the_session(faulty_smtp, stage):
    faulty_smtp.answer(stage, "451 4.3.0 try again later")
    async with smtp(faulty_smtp.url(), pool_size=1) as transport:
        with pytest.raises(TemporaryFailure) as refused:
            await send(transport)
        reply = await send(transport)

    assert (refused.value.code, refused.value.before_data) == (451, True)
    assert "451 4.3.0 try again later" in str(refused.value)
    assert reply.startswith("250 ")
    [connection] = faulty_smtp.connections
    assert "RSET" in connection.commands
    assert 503 not in faulty_smtp.replies()  # no "sender already specified"
    assert connection.transactions == 1


async def test_a_421_drops_the_connection_and_the_next_message_reconnects(faulty_smtp):
    faulty_smtp.answer("MAIL", "421 4.3.2 shutting down")
    async with smtp(faulty_smtp.url(), pool_size=1) as transport:
        with pytest.raises(TemporaryFailure) as refused:
            await send(transport)
        await send(transport)

    assert (refused.value.code, refused.value.before_data) == (421, True)
    assert [log.transactions for log in faulty_smtp.connections] == [0, 1]
    assert 503 not in faulty_smtp.replies()


async def test_a_550_at_rcpt_is_permanent(faulty_smtp):
    faulty_smtp.answer("RCPT", "550 5.1.1 no such user")
    async with smtp(faulty_smtp.url(), pool_size=1) as transport:
        with pytest.raises(PermanentFailure) as refused:
            await send(transport, to="gone@example.com")
        await send(transport)

    assert refused.value.code == 550
    assert str(refused.value) == "550 5.1.1 no such user"
    assert [log.transactions for log in faulty_smtp.connections] == [1]
    assert 503 not in faulty_smtp.replies()


@pytest.mark.parametrize(
    ("reply", "failure"),
    [("554 5.7.1 rejected as spam", PermanentFailure), ("452 4.3.1 queue full", TemporaryFailure)],
)
async def test_a_refusal_of_the_content(faulty_smtp, reply, failure):
    faulty_smtp.answer("END", reply)
    async with smtp(faulty_smtp.url(), pool_size=1) as transport:
        with pytest.raises(failure) as refused:
            await send(transport)
        await send(transport)

    assert refused.value.code == int(reply[:3])
    assert getattr(refused.value, "before_data", False) is False
    assert [log.transactions for log in faulty_smtp.connections] == [1]


async def test_a_drop_after_the_final_dot_is_uncertain(faulty_smtp):
    faulty_smtp.drop("END")
    async with smtp(faulty_smtp.url(), pool_size=1) as transport:
        with pytest.raises(UncertainFailure):
            await send(transport)
        await send(transport)

    assert faulty_smtp.received[0].content == make_message()  # the server had it all
    assert [log.transactions for log in faulty_smtp.connections] == [0, 1]


async def test_a_drop_before_the_content_is_temporary(faulty_smtp):
    faulty_smtp.drop("DATA")
    async with smtp(faulty_smtp.url(), pool_size=1) as transport:
        with pytest.raises(TemporaryFailure) as refused:
            await send(transport)
        await send(transport)

    assert (refused.value.code, refused.value.before_data) == (None, True)
    assert faulty_smtp.received == [faulty_smtp.received[-1]]  # only the second message


async def test_a_pooled_connection_the_server_closed_is_replaced(faulty_smtp):
    async with smtp(faulty_smtp.url(), pool_size=1) as transport:
        await send(transport)
        faulty_smtp.drop("MAIL")  # as a server does with an idle connection
        await send(transport)  # nothing was sent on the dead connection: reconnect, go on
        faulty_smtp.drop("MAIL", times=2)
        with pytest.raises(TemporaryFailure) as refused:
            await send(transport)  # a fresh connection dropped too: that is a failure

    assert (refused.value.code, refused.value.before_data) == (None, True)
    assert [log.transactions for log in faulty_smtp.connections] == [1, 1, 0]


async def test_a_slow_reply_times_out(faulty_smtp):
    url = faulty_smtp.url("timeout=0.3&data_timeout=0.3")
    async with smtp(url, pool_size=1) as transport:
        faulty_smtp.delay("RCPT", 1.0)
        with pytest.raises(TemporaryFailure) as before:
            await send(transport)
        faulty_smtp.delay("END", 1.0)
        with pytest.raises(UncertainFailure):
            await send(transport)
        await send(transport)

    assert (before.value.code, before.value.before_data) == (None, True)
    assert faulty_smtp.connections[-1].transactions == 1


async def test_a_cancelled_send_leaves_no_half_open_session(faulty_smtp):
    faulty_smtp.delay("RCPT", 1.0)
    async with smtp(faulty_smtp.url(), pool_size=1) as transport:
        sending = asyncio.create_task(send(transport))
        await asyncio.sleep(0.2)
        sending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await sending
        await send(transport)  # on a fresh connection: the late RCPT reply is never misread

    assert [log.transactions for log in faulty_smtp.connections] == [0, 1]
    assert 503 not in faulty_smtp.replies()


async def test_an_unreachable_server_is_a_temporary_failure(faulty_smtp):
    faulty_smtp.answer("CONNECT", "554 5.3.2 not accepting mail")
    async with smtp(faulty_smtp.url()) as transport:
        with pytest.raises(TemporaryFailure, match="not accepting mail") as refused:
            await send(transport)
    # A 5xx greeting is about the relay, not the recipient: never a hard bounce.
    assert (refused.value.code, refused.value.before_data) == (554, True)


# TLS and login


async def test_starttls_with_a_self_signed_certificate(smtp_sink_factory, tls_files):
    sink = smtp_sink_factory(tls_context=server_tls_context(tls_files), require_starttls=True)
    cert, _key = tls_files
    async with smtp(sink.url(query="starttls=true&verify=false")) as transport:
        await send(transport)
    async with smtp(sink.url(query=f"starttls=true&cafile={cert}")) as transport:
        await send(transport)  # verified against the certificate as its own CA
    async with smtp(sink.url(query="starttls=true")) as transport:
        with pytest.raises(TemporaryFailure, match="CERTIFICATE_VERIFY_FAILED"):
            await send(transport)

    assert [message.tls for message in sink.received] == [True, True]


async def test_starttls_is_never_skipped_when_the_server_lacks_it(smtp_sink):
    async with smtp(smtp_sink.url(query="starttls=true")) as transport:
        with pytest.raises(TemporaryFailure, match="STARTTLS"):
            await send(transport)
    assert smtp_sink.received == []


async def test_implicit_tls(smtp_sink_factory, tls_files):
    sink = smtp_sink_factory(ssl_context=server_tls_context(tls_files))
    async with smtp(sink.url("smtps", query="verify=false")) as transport:
        await send(transport)
    assert [message.tls for message in sink.received] == [True]


def accept_drumbeat(server, session, envelope, mechanism, auth_data) -> AuthResult:
    assert isinstance(auth_data, LoginPassword)
    ok = (auth_data.login, auth_data.password) == (b"drumbeat", b"p@ss:word")
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd sends the 535


async def test_login(smtp_sink_factory, tls_files):
    sink = smtp_sink_factory(
        tls_context=server_tls_context(tls_files),
        require_starttls=True,
        authenticator=accept_drumbeat,
        auth_required=True,
    )
    good = f"smtp://drumbeat:p%40ss%3Aword@{sink.host}:{sink.port}?starttls=true&verify=false"
    async with smtp(good) as transport:
        await send(transport)
    assert len(sink.received) == 1

    bad = good.replace("p%40ss", "wrong")
    async with smtp(bad) as transport:
        with pytest.raises(TemporaryFailure) as refused:
            await send(transport)
    assert refused.value.code == 535  # our setup is wrong, not the recipient: no bounce
    assert len(sink.received) == 1


# The Maildir outbox


async def test_maildir_stores_lists_and_reads(tmp_path):
    transport = transport_from_url(f"maildir://{tmp_path}/outbox", pool_size=1)
    assert isinstance(transport, MaildirTransport)
    assert transport.list_messages() == []
    subjects = ["First", "=?utf-8?q?Gr=C3=BC=C3=9Fe?=", "Third"]
    replies = [
        await transport.send(
            sender=SENDER, recipient=f"r{n}@example.com", message=make_message(subject=subject)
        )
        for n, subject in enumerate(subjects)
    ]
    await transport.close()

    keys = [reply.removeprefix("250 stored ") for reply in replies]
    assert all(reply.startswith("250 stored ") for reply in replies)
    assert len(list((tmp_path / "outbox" / "new").iterdir())) == 3
    newest = transport.list_messages(limit=2)
    assert [entry.key for entry in newest] == [keys[2], keys[1]]
    assert [entry.subject for entry in newest] == ["Third", "Grüße"]
    assert newest[1].recipient == "r1@example.com"
    assert newest[1].to == "ada@example.com"
    assert newest[1].date == datetime(2026, 11, 26, 10, 0, tzinfo=UTC)

    stored = transport.read_message(keys[0])
    envelope = f"Return-Path: <{SENDER}>\r\nDelivered-To: r0@example.com\r\n".encode()
    assert stored == envelope + make_message(subject="First")
    with pytest.raises(KeyError):
        transport.read_message("../../etc/passwd")


async def test_maildir_url_with_a_relative_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    transport = transport_from_url(Settings().mail_url, pool_size=4, rate_per_second=None)
    assert isinstance(transport, MaildirTransport)
    assert transport.path == Path("var/outbox")
    await transport.send(sender=SENDER, recipient="ada@example.com", message=make_message())
    assert len(list((tmp_path / "var" / "outbox" / "new").iterdir())) == 1


# The mail URL


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.com", ("plain", 25, None, None, True)),
        ("smtp://mail.example.com:2525?verify=false", ("plain", 2525, None, None, False)),
        ("smtp://mail.example.com?starttls=true", ("starttls", 587, None, None, True)),
        (
            "smtp://it%2Bnews:p%40ss@mail.example.com:587?starttls=true",
            ("starttls", 587, "it+news", "p@ss", True),
        ),
        ("smtps://mail.example.com", ("tls", 465, None, None, True)),
        ("SMTPS://mail.example.com:1465/", ("tls", 1465, None, None, True)),
    ],
)
def test_smtp_urls(url, expected):
    transport = transport_from_url(url, pool_size=2, rate_per_second=5)
    assert isinstance(transport, SmtpTransport)
    security, port, username, password, verify = expected
    assert (transport.security, transport.port, transport.username) == (security, port, username)
    assert (transport._password, transport.verify_certs) == (password, verify)
    assert (transport.host, transport.pool_size, transport.rate.rate) == ("mail.example.com", 2, 5)
    assert "p@ss" not in repr(transport)


def test_smtp_url_options():
    url = "smtp://mail.example.com?timeout=5&data_timeout=120&helo=news.example.com"
    transport = transport_from_url(url, pool_size=1, rate_per_second=None)
    assert (transport.timeout, transport.data_timeout) == (5.0, 120.0)
    assert transport.local_hostname == "news.example.com"
    assert transport.rate is None


def test_maildir_url_with_an_absolute_path():
    assert transport_from_url("maildir:///srv/drumbeat/outbox", pool_size=1).path == Path(
        "/srv/drumbeat/outbox"
    )


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://mail.example.com", "unknown scheme 'http'"),
        ("mail.example.com", "unknown scheme ''"),
        ("maildir://", "no directory"),
        ("maildir://./var/outbox?fsync=1", "takes no options"),
        ("smtp://", "no host"),
        ("smtp://:25", "no host"),
        ("smtp://mail.example.com:99999", "port must be a number"),
        ("smtp://mail.example.com:twenty", "port must be a number"),
        ("smtp://mail.example.com/inbox", "no path expected"),
        ("smtp://mail.example.com?tls=true", "unknown option 'tls'"),
        ("smtp://mail.example.com?starttls=maybe", "starttls='maybe' is not true or false"),
        ("smtp://mail.example.com?verify=0&verify=1", "'verify' given twice"),
        ("smtps://mail.example.com?starttls=true", "starttls applies to smtp:// only"),
        ("smtp://user:secret@mail.example.com:587", "password would cross the network unencrypted"),
        ("smtp://mail.example.com?timeout=-1", "timeout='-1' is not a number of seconds"),
        ("smtp://mail.example.com?timeout=soon", "timeout='soon' is not a number of seconds"),
        ("smtp://mail.example.com?cafile=/no/such/ca.pem", "is not a file"),
        ("smtp://it-news@mail.example.com", "a user needs a password"),
        ("smtp://user:s3cret@mail.example.com?bogus=1", "user:***@mail.example.com"),
    ],
)
def test_bad_mail_urls(url, reason):
    with pytest.raises(ValueError, match=r"^mail URL ") as error:
        transport_from_url(url, pool_size=4, rate_per_second=None)
    assert reason in str(error.value)
    assert "s3cret" not in str(error.value)


@pytest.mark.parametrize(("pool_size", "rate"), [(0, None), (4, 0), (4, -1.5)])
def test_bad_pool_settings(pool_size, rate):
    with pytest.raises(ValueError):
        transport_from_url("smtp://mail.example.com", pool_size=pool_size, rate_per_second=rate)
