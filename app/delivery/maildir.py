"""The Maildir transport: the embedded outbox, so `make run` sends without a mail server."""

import asyncio
import mailbox
import re
import threading
from dataclasses import dataclass
from datetime import datetime
from email.parser import BytesHeaderParser, BytesParser
from email.policy import default as default_policy
from pathlib import Path

from app.delivery.failures import TemporaryFailure, check_addresses


@dataclass(frozen=True)
class OutboxEntry:
    key: str
    recipient: str  # the envelope recipient (Delivered-To)
    to: str
    subject: str
    date: datetime | None


class MaildirTransport:
    """Stores each message in a Maildir instead of sending it: the outbox of `make run`.

    Like a local delivery agent, it puts the envelope on top (Return-Path, Delivered-To).
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()  # mailbox.Maildir is not safe across threads
        self._maildir: mailbox.Maildir | None = None

    def __repr__(self) -> str:
        return f"MaildirTransport({str(self.path)!r})"

    async def send(self, *, sender: str, recipient: str, message: bytes) -> str:
        check_addresses(sender, recipient)
        envelope = f"Return-Path: <{sender}>\r\nDelivered-To: {recipient}\r\n".encode()
        try:
            key = await asyncio.to_thread(self._add, envelope + message)
        except OSError as exc:
            raise TemporaryFailure(None, f"storing in {self.path}: {exc}") from exc
        return f"250 stored {key}"

    async def close(self) -> None:
        pass

    def list_messages(self, limit: int = 50) -> list[OutboxEntry]:
        """The newest `limit` messages, newest first."""
        return self.list_page(limit)[0]

    def list_page(self, limit: int, *, offset: int = 0) -> tuple[list[OutboxEntry], int]:
        """`limit` messages after the newest `offset`, newest first, and how many there are
        in all (one look at the folder for both)."""
        with self._lock:
            maildir = self._open()
            keys = sorted(maildir.keys(), key=_delivery_order, reverse=True)
            shown = keys[offset : offset + limit]
            return [_outbox_entry(key, maildir.get_bytes(key)) for key in shown], len(keys)

    def read_message(self, key: str) -> bytes:
        """The stored message, envelope lines included; KeyError for an unknown key."""
        with self._lock:
            return self._open().get_bytes(key)

    def _add(self, message: bytes) -> str:
        with self._lock:
            return self._open().add(message)

    def _open(self) -> mailbox.Maildir:
        if self._maildir is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._maildir = mailbox.Maildir(self.path, create=True)
        return self._maildir


@dataclass(frozen=True)
class StoredMessage:
    """A stored message taken apart for reading: every header, and its text and HTML parts
    decoded (None where the message has no such part)."""

    headers: list[tuple[str, str]]
    text: str | None
    html: str | None


def read_parts(stored: bytes) -> StoredMessage:
    message = BytesParser(policy=default_policy).parsebytes(stored)
    parts = {}
    for subtype in ("plain", "html"):
        body = message.get_body(preferencelist=(subtype,))
        try:
            parts[subtype] = body.get_content() if body is not None else None
        except (LookupError, ValueError):  # an unknown charset or a broken encoding
            parts[subtype] = (body.get_payload(decode=True) or b"").decode("utf-8", "replace")
    headers = [(name, str(value)) for name, value in message.items()]
    return StoredMessage(headers=headers, text=parts["plain"], html=parts["html"])


def _delivery_order(key: str) -> tuple[int, int, int]:
    # mailbox.Maildir names files "<seconds>.M<microseconds>P<pid>Q<counter>.<host>".
    match = re.match(r"(\d+)\.M(\d+)P\d+Q(\d+)", key)
    return (int(match[1]), int(match[2]), int(match[3])) if match else (0, 0, 0)


def _outbox_entry(key: str, stored: bytes) -> OutboxEntry:
    headers = BytesHeaderParser(policy=default_policy).parsebytes(stored)
    try:
        date = headers["date"].datetime if headers["date"] else None
    except (TypeError, ValueError):
        date = None
    return OutboxEntry(
        key=key,
        recipient=str(headers["delivered-to"] or ""),
        to=str(headers["to"] or ""),
        subject=str(headers["subject"] or ""),
        date=date,
    )
