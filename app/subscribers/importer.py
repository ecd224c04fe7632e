"""CSV import and export of subscribers.

The header row maps columns: ``email`` (required), ``name`` and ``status`` are fields,
``created_at`` (written by the export) is ignored, every other column is an attribute. Rows
are upserted by email in batches inside the caller's transaction: a rejected row is reported
with its line number and changes nothing; an empty cell leaves the stored value as it is. A
file that is not UTF-8 or not readable as CSV is refused as a whole, naming the line.
"""

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO

from sqlalchemy import insert, select, update
from sqlmodel import Session

from app.accounts.principal import Principal
from app.audit.service import record
from app.db import utcnow
from app.errors import Invalid
from app.subscribers.models import (
    MAX_ATTRIBUTES,
    MAX_NAME_LENGTH,
    Subscriber,
    SubscriberStatus,
    attribute_name,
    clean_attributes,
)
from app.subscribers.normalize import normalize_email

FIELD_COLUMNS = ("email", "name", "status")
# Columns the export writes that an import cannot set, so an exported file imports back as is.
IGNORED_COLUMNS = ("created_at",)
BATCH_SIZE = 1000
MAX_REJECTIONS_REPORTED = 1000
STATUSES = {s.value for s in SubscriberStatus}
# Bytes that are not UTF-8 decode to these lone surrogates (errors="surrogateescape").
NOT_UTF8 = re.compile("[\udc80-\udcff]")
NOT_UTF8_REASON = "the file is not UTF-8 text (save it as 'CSV UTF-8')"


@dataclass
class Rejection:
    line: int
    reason: str
    email: str = ""


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected_count: int = 0
    rejected: list[Rejection] = field(default_factory=list)

    def reject(self, line: int, reason: str, email: str = "") -> None:
        self.rejected_count += 1
        if len(self.rejected) < MAX_REJECTIONS_REPORTED:
            self.rejected.append(Rejection(line=line, reason=reason, email=email))


@dataclass
class _Row:
    line: int
    email: str
    name: str | None
    status: str | None
    attributes: dict[str, str]


def import_csv(
    session: Session,
    *,
    binary: IO[bytes],
    actor: Principal,
    on_rows: Callable[[int], None] | None = None,
) -> ImportReport:
    """Upsert every valid row of a CSV file; see the module docstring for the rules."""
    # Decoding errors are found per row, not per 8 KB chunk, so they get the right line number.
    text = io.TextIOWrapper(binary, encoding="utf-8-sig", errors="surrogateescape", newline="")
    report = ImportReport()
    batch: list[_Row] = []
    seen: dict[str, int] = {}
    rows = _parse(text, report, seen)
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH_SIZE:
            _apply(session, batch, report)
            if on_rows:
                on_rows(len(batch))
            batch = []
    if batch:
        _apply(session, batch, report)
        if on_rows:
            on_rows(len(batch))
    record(
        session,
        actor=actor,
        action="subscribers.imported",
        object_type="subscriber",
        details={
            "created": report.created,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "rejected": report.rejected_count,
        },
    )
    return report


def _parse(text: io.TextIOWrapper, report: ImportReport, seen: dict[str, int]) -> Iterator[_Row]:
    first = text.readline()
    if NOT_UTF8.search(first):
        raise Invalid("file", f"line 1: {NOT_UTF8_REASON}")
    if not first.strip():
        raise Invalid("file", "line 1: the file is empty; it needs a header row with 'email'")
    delimiter = ";" if first.count(";") > first.count(",") else ","
    header = _read_header(next(csv.reader([first], delimiter=delimiter)))
    reader = csv.reader(text, delimiter=delimiter, strict=True)
    line = 1
    while True:
        start_line = line + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise Invalid("file", f"line {start_line}: unreadable CSV ({exc})") from exc
        line = reader.line_num + 1  # the header was read separately
        if any(NOT_UTF8.search(cell) for cell in cells):
            raise Invalid("file", f"line {start_line}: {NOT_UTF8_REASON}")
        if not any(cell.strip() for cell in cells):
            continue
        row = _read_row(cells, header, start_line, report, seen)
        if row is not None:
            yield row


def _read_header(cells: list[str]) -> list[str]:
    known = FIELD_COLUMNS + IGNORED_COLUMNS
    names = [
        cell.strip().lower() if cell.strip().lower() in known else cell.strip() for cell in cells
    ]
    for position, name in enumerate(names, start=1):
        if not name:
            raise Invalid("file", f"line 1: column {position} has no name")
        if names.count(name) > 1:
            raise Invalid("file", f"line 1: column {name!r} appears twice")
        if name not in known:
            try:
                attribute_name(name)
            except ValueError as exc:
                raise Invalid("file", f"line 1: column {position}: {exc}") from exc
    if "email" not in names:
        raise Invalid("file", "line 1: the header row has no 'email' column")
    return names


def _read_row(
    cells: list[str], header: list[str], line: int, report: ImportReport, seen: dict[str, int]
) -> _Row | None:
    if len(cells) != len(header):
        report.reject(line, f"expected {len(header)} fields, found {len(cells)}")
        return None
    values = dict(zip(header, cells, strict=True))
    for column in IGNORED_COLUMNS:
        values.pop(column, None)
    raw_email = values.pop("email").strip()
    try:
        email = normalize_email(raw_email)
    except ValueError as exc:
        report.reject(line, str(exc), raw_email)
        return None
    if email in seen:
        report.reject(line, f"duplicate in file: same address as line {seen[email]}", email)
        return None
    seen[email] = line
    status = values.pop("status", "").strip().lower() or None
    if status is not None and status not in STATUSES:
        report.reject(line, f"unknown status {status!r}; one of {sorted(STATUSES)}", email)
        return None
    name = values.pop("name", "").strip() or None
    if name is not None and len(name) > MAX_NAME_LENGTH:
        report.reject(line, f"name is longer than {MAX_NAME_LENGTH} characters", email)
        return None
    try:
        attributes = clean_attributes({k: v for k, v in values.items() if v.strip()})
    except ValueError as exc:
        report.reject(line, str(exc), email)
        return None
    return _Row(line=line, email=email, name=name, status=status, attributes=attributes)


def _apply(session: Session, batch: list[_Row], report: ImportReport) -> None:
    existing = {
        s.email: s
        for s in session.scalars(
            select(Subscriber).where(Subscriber.email.in_([row.email for row in batch]))
        )
    }
    now = utcnow()
    inserts, updates = [], []
    for row in batch:
        current = existing.get(row.email)
        if current is None:
            inserts.append(
                {
                    "email": row.email,
                    "name": row.name or "",
                    "attributes": row.attributes,
                    "status": row.status or SubscriberStatus.active,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            continue
        change = _change_for(current, row, now, report)
        if change is None:
            continue
        if len(change) == 1:
            report.unchanged += 1
        else:
            updates.append(change)
    if inserts:
        session.execute(insert(Subscriber), inserts)
        report.created += len(inserts)
    if updates:
        session.execute(update(Subscriber), updates)
        report.updated += len(updates)
    # The bulk statements bypass the identity map; forget the stale copies.
    for subscriber in existing.values():
        session.expunge(subscriber)


def _change_for(current: Subscriber, row: _Row, now, report: ImportReport) -> dict | None:
    """The columns to update ({'id'} alone when nothing changes), or None when rejected."""
    if row.status == SubscriberStatus.active and current.status != SubscriberStatus.active:
        # Consent: an address that unsubscribed, bounced or was blocked stays so.
        report.reject(
            row.line, f"subscriber is {current.status}; an import cannot reactivate it", row.email
        )
        return None
    change: dict = {"id": current.id}
    if row.name is not None and row.name != current.name:
        change["name"] = row.name
    merged = {**current.attributes, **row.attributes}
    if len(merged) > MAX_ATTRIBUTES:
        report.reject(row.line, f"at most {MAX_ATTRIBUTES} attributes", row.email)
        return None
    if merged != current.attributes:
        change["attributes"] = merged
    if row.status is not None and row.status != current.status:
        change["status"] = row.status
        change["status_changed_at"] = now
    if len(change) > 1:
        change["updated_at"] = now
    return change


def export_rows(session: Session, *, where: list, batch_size: int = 2000) -> Iterator[list[str]]:
    """CSV rows (header first) of the selected subscribers; attributes become columns."""
    keys: set[str] = set()
    for attributes in session.scalars(select(Subscriber.attributes).where(*where)):
        keys.update(attributes)
    attribute_columns = sorted(keys)
    yield ["email", "name", "status", *attribute_columns, "created_at"]
    columns = (
        Subscriber.id,
        Subscriber.email,
        Subscriber.name,
        Subscriber.status,
        Subscriber.attributes,
        Subscriber.created_at,
    )
    last_id = 0
    while True:
        # Columns, not ORM objects: building 100,000 entities cost more than the query.
        chunk = session.execute(
            select(*columns)
            .where(*where, Subscriber.id > last_id)
            .order_by(Subscriber.id)
            .limit(batch_size)
        ).all()
        if not chunk:
            return
        for _id, email, name, status, attributes, created_at in chunk:
            yield [
                email,
                name,
                status,
                *(attributes.get(k, "") for k in attribute_columns),
                created_at.isoformat(),
            ]
        last_id = chunk[-1].id


EXPORT_CHUNK_CHARS = 64 * 1024


def export_csv(session: Session, *, where: list) -> Iterator[str]:
    """The export as CSV text in pieces of about EXPORT_CHUNK_CHARS. A streamed response
    takes each piece from a worker thread, so one piece per line cost a thread hop per
    subscriber (100,000 subscribers: about half a minute instead of a few seconds)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for cells in export_rows(session, where=where):
        writer.writerow([_defuse(c) for c in cells])
        if buffer.tell() >= EXPORT_CHUNK_CHARS:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


def _defuse(cell: str) -> str:
    return "'" + cell if cell[:1] in ("=", "+", "-", "@") else cell
