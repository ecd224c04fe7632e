"""How a finished message leaves Drumbeat: an SMTP relay, or a Maildir outbox on disk.

One setting picks the transport (DRUMBEAT_MAIL_URL, see `transport_from_url`); what each
failure lets the caller do next is in failures.py.
"""

from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from app.delivery.failures import (
    PermanentFailure,
    SendFailure,
    TemporaryFailure,
    Transport,
    UncertainFailure,
)
from app.delivery.maildir import MaildirTransport, OutboxEntry
from app.delivery.smtp import Security, SmtpTransport, TokenBucket

__all__ = [
    "MaildirTransport",
    "OutboxEntry",
    "PermanentFailure",
    "SendFailure",
    "SmtpTransport",
    "TemporaryFailure",
    "TokenBucket",
    "Transport",
    "UncertainFailure",
    "transport_from_url",
]


def transport_from_url(
    url: str, *, pool_size: int = 4, rate_per_second: float | None = None
) -> Transport:
    """The transport DRUMBEAT_MAIL_URL names; ValueError says what is wrong with it.

    maildir://./var/outbox (relative), maildir:///srv/outbox (absolute),
    smtp://host:25, smtp://user:pass@host:587?starttls=true, smtps://host:465.
    SMTP options: starttls, verify (certificates; default true), cafile, timeout and
    data_timeout (seconds), helo (the name we give in EHLO). Quote special characters
    in the password: p%40ss for p@ss.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        if scheme == "maildir":
            return MaildirTransport(_maildir_path(parts.netloc + parts.path, parts.query))
        if scheme in ("smtp", "smtps"):
            return _smtp_transport(parts, pool_size=pool_size, rate_per_second=rate_per_second)
        raise ValueError(f"unknown scheme {scheme!r}; use maildir://, smtp:// or smtps://")
    except ValueError as exc:
        raise ValueError(f"mail URL {_redacted(url)!r}: {exc}") from None


def _maildir_path(path: str, query: str) -> Path:
    if query:
        raise ValueError("maildir:// takes no options")
    if not path:
        raise ValueError("no directory; e.g. maildir://./var/outbox")
    return Path(unquote(path))


# A relay on this machine (a local Postfix) may take a login without TLS.
LOOPBACK_HOSTS = {"127.0.0.1", "::1", "localhost"}
SMTP_OPTIONS = {"starttls", "verify", "cafile", "timeout", "data_timeout", "helo"}


def _smtp_transport(parts, *, pool_size: int, rate_per_second: float | None) -> SmtpTransport:
    if not parts.hostname:
        raise ValueError("no host; e.g. smtp://mail.example.com:587?starttls=true")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("the port must be a number from 0 to 65535") from None
    if parts.path not in ("", "/"):
        raise ValueError(f"no path expected, got {parts.path!r}")
    if parts.username is not None and not parts.password:
        raise ValueError("a user needs a password: smtp://user:password@host")
    options = _query_options(parts.query)
    starttls = _boolean(options, "starttls", default=False)
    if parts.scheme.lower() == "smtps" and starttls:
        raise ValueError("smtps:// is TLS from the start; starttls applies to smtp:// only")
    security: Security = "tls" if parts.scheme.lower() == "smtps" else "plain"
    if starttls:
        security = "starttls"
    if parts.password and security == "plain" and parts.hostname not in LOOPBACK_HOSTS:
        raise ValueError(
            "the password would cross the network unencrypted: add ?starttls=true or use smtps://"
        )
    ca_file = options.get("cafile")
    if ca_file is not None and not Path(ca_file).is_file():
        raise ValueError(f"cafile {ca_file!r} is not a file")
    if rate_per_second is not None and rate_per_second <= 0:
        raise ValueError("the rate must be positive, or unset for no limit")
    return SmtpTransport(
        host=parts.hostname,
        port=port or {"tls": 465, "starttls": 587, "plain": 25}[security],
        security=security,
        username=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password else None,
        verify_certs=_boolean(options, "verify", default=True),
        ca_file=ca_file,
        local_hostname=options.get("helo"),
        timeout=_seconds(options, "timeout", default=60.0),
        data_timeout=_seconds(options, "data_timeout", default=600.0),
        pool_size=pool_size,
        rate_per_second=rate_per_second,
    )


def _query_options(query: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name not in SMTP_OPTIONS:
            raise ValueError(f"unknown option {name!r}; known: {', '.join(sorted(SMTP_OPTIONS))}")
        if name in options:
            raise ValueError(f"option {name!r} given twice")
        options[name] = value
    return options


def _boolean(options: dict[str, str], name: str, *, default: bool) -> bool:
    value = options.get(name)
    if value is None:
        return default
    if value.lower() in ("true", "1", "yes", "on"):
        return True
    if value.lower() in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"{name}={value!r} is not true or false")


def _seconds(options: dict[str, str], name: str, *, default: float) -> float:
    value = options.get(name)
    if value is None:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < 86400:
        raise ValueError(f"{name}={value!r} is not a number of seconds")
    return seconds


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if not parts.password:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)
