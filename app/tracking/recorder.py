"""Tracking hits, recorded without waiting on the database per request.

The request handler appends a Hit to an in-memory list and answers at once. A background
task hands the list to a thread every FLUSH_SECONDS (or sooner at BATCH_SIZE hits), which
classifies the batch and inserts it in one transaction (executemany). On shutdown
everything still queued is written. A failed flush keeps its hits and is retried; nothing
is dropped without an error in the log. Every app process has its own recorder; they
share nothing but the database.
"""

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Integer, any_, bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.analytics.tallies import events_changed
from app.db import utcnow
from app.delivery.models import Delivery
from app.issues.models import Issue
from app.subscribers.models import Subscriber
from app.tracking import service as tracking
from app.tracking.classify import BURST_SECONDS, BurstDetector, Seen, machine_reason
from app.tracking.models import EngagementEvent, EventKind, PrivacyMode, TrackedLink

log = logging.getLogger("drumbeat.tracking")
FLUSH_SECONDS = 0.2
BATCH_SIZE = 500
# How often the writer re-reads the privacy mode (busy or idle; the process that changes
# the mode knows at once).
MODE_REFRESH_SECONDS = 1.0
RETRY_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)
# Beyond this many unwritten hits (the database is down for long), the oldest are dropped,
# with an error saying how many.
MAX_QUEUED = 200_000
PSEUDONYM_CACHE_SIZE = 100_000
SENT_AT_CACHE_SIZE = 100_000


@dataclass(slots=True)
class Hit:
    """One request, as the handler saw it. ip and user_agent live only until the flush."""

    kind: str
    issue_id: int
    subscriber_id: int
    variant: tuple[int, ...]
    link_id: int | None
    excerpt_id: int | None
    method: str
    ip: str
    user_agent: str
    occurred_at: datetime
    mode: PrivacyMode = PrivacyMode.aggregate  # as this process knew it at the hit


class Recorder:
    def __init__(
        self,
        engine: Engine,
        *,
        after_delivery_seconds: float = 30.0,
        flush_seconds: float = FLUSH_SECONDS,
        batch_size: int = BATCH_SIZE,
    ):
        self.engine = engine
        self.after_delivery = timedelta(seconds=after_delivery_seconds)
        self.flush_seconds = flush_seconds
        self.batch_size = batch_size
        self.mode = PrivacyMode.aggregate
        self.stored = 0  # events written by this process, for the benchmark and logs
        self._queue: list[Hit] = []
        self._lock = threading.RLock()  # one flush at a time
        self._bursts = BurstDetector()
        self._pseudonyms: dict[tuple[bytes, int], str] = {}
        # When each (issue, subscriber)'s message went out: set once, read for every hit.
        self._sent_at: dict[tuple[int, int], datetime] = {}
        self._mode_read_at = 0.0
        # One writer per event loop that started the recorder: an app served by two test
        # clients at once runs its lifespan in two loops, and an asyncio.Event belongs to one.
        self._writers: dict[asyncio.AbstractEventLoop, tuple[asyncio.Task, asyncio.Event]] = {}
        self.now = utcnow  # when a hit occurred; replaceable to replay recorded timings

    # --- the request side: no I/O ---------------------------------------------------

    def add(self, hit: Hit) -> None:
        if self.mode == PrivacyMode.off:
            return
        hit.mode = self.mode
        self._queue.append(hit)
        if len(self._queue) == self.batch_size:
            for loop, (_, wake) in list(self._writers.items()):
                loop.call_soon_threadsafe(wake.set)

    @property
    def queued(self) -> int:
        return len(self._queue)

    # --- the writer -----------------------------------------------------------------

    async def start(self) -> None:
        wake = asyncio.Event()
        task = asyncio.create_task(self._run(wake), name="tracking-recorder")
        self._writers[asyncio.get_running_loop()] = (task, wake)

    async def stop(self) -> None:
        """Stop this loop's writer and write everything still queued."""
        writer = self._writers.pop(asyncio.get_running_loop(), None)
        if writer is not None:
            writer[0].cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer[0]
        await asyncio.to_thread(self.drain)

    async def _run(self, wake: asyncio.Event) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), self.flush_seconds)
            wake.clear()
            await asyncio.to_thread(self.flush_once)

    def drain(self) -> None:
        """Write until the queue is empty (retrying failures, then giving up loudly)."""
        for delay in (*RETRY_SECONDS, None):
            try:
                # Under the lock: a batch the writer thread holds is written before we return.
                with self._lock:
                    while self._queue:
                        self.flush(raise_errors=True)
                return
            except Exception:
                if delay is None:
                    log.exception("tracking: %d hits could not be written", len(self._queue))
                    return
                time.sleep(delay)

    def flush_once(self) -> None:
        """One writer cycle: a flush, or an idle re-read of the privacy mode."""
        if not self._queue:
            if self._mode_is_old():
                try:
                    with Session(self.engine) as session:
                        self._note_mode(tracking.privacy_mode(session))
                except Exception:
                    log.exception("tracking: could not read the privacy mode")
            return
        # Everything queued, batch by batch; a failed batch waits for the next cycle.
        while self._queue and self.flush() is not None:
            pass

    def flush(self, *, raise_errors: bool = False) -> int | None:
        """Write up to one batch: the number of events stored, None if it failed (its hits
        go back to the front of the queue for the next try)."""
        with self._lock:
            batch, self._queue[: self.batch_size] = self._queue[: self.batch_size], []
            if not batch:
                return 0
            try:
                stored = self._write(batch)
            except Exception:
                self._queue[:0] = batch
                self._trim()
                if raise_errors:
                    raise
                log.exception("tracking: writing %d hits failed; will retry", len(batch))
                time.sleep(RETRY_SECONDS[0])
                return None
            self.stored += stored
            return stored

    def _trim(self) -> None:
        excess = len(self._queue) - MAX_QUEUED
        if excess > 0:
            del self._queue[:excess]
            log.error("tracking: database unreachable for long; dropped %d oldest hits", excess)

    def forget(self) -> None:
        """Drop what this process remembers between batches (for a database that was reset
        under it, as between tests)."""
        self._bursts = BurstDetector()
        self._pseudonyms.clear()
        self._sent_at.clear()
        self._mode_read_at = 0.0

    def _mode_is_old(self) -> bool:
        return time.monotonic() - self._mode_read_at > MODE_REFRESH_SECONDS

    def _note_mode(self, mode: PrivacyMode) -> None:
        if mode != self.mode:
            self._bursts = BurstDetector()
        self.mode, self._mode_read_at = mode, time.monotonic()

    def _write(self, batch: list[Hit]) -> int:
        """One transaction. Each hit is stored as the mode was when it came (this process
        re-reads the mode every MODE_REFRESH_SECONDS)."""
        with Session(self.engine) as session, session.begin():
            if self._mode_is_old():
                self._note_mode(tracking.privacy_mode(session))
            batch = _still_there(session, batch)
            if not batch:
                return 0
            sent_at = self._sent_at_of(session, batch)
            aggregate = {h.issue_id for h in batch if h.mode == PrivacyMode.aggregate}
            salts = tracking.salts_for(session, issue_ids=aggregate) if aggregate else {}
            rows, late_bursts = self._rows(batch, salts, sent_at)
            _insert(session, rows)
            for issue_id, column, value, start, end in late_bursts:
                _flag_burst(session, issue_id, column, value, start, end)
            events_changed(session, {row["issue_id"] for row in rows})
        return len(rows)

    def _sent_at_of(self, session: Session, batch: list[Hit]) -> dict[tuple[int, int], datetime]:
        """Delivery times of the batch's recipients; only those not seen before are queried
        (a message's sent_at never changes once set)."""
        known = self._sent_at
        missing = [h for h in batch if (h.issue_id, h.subscriber_id) not in known]
        if missing:
            if len(known) >= SENT_AT_CACHE_SIZE:
                known.clear()
            known.update(_sent_at(session, missing))
        return known

    def _pseudonym(self, salt: bytes, subscriber_id: int) -> str:
        # Readers come back (opens, then clicks): one HMAC per reader, not per hit. Keyed by
        # the salt, so a deleted salt's pseudonyms are never handed out again.
        key = (salt, subscriber_id)
        reader = self._pseudonyms.get(key)
        if reader is None:
            if len(self._pseudonyms) >= PSEUDONYM_CACHE_SIZE:
                self._pseudonyms.clear()
            reader = self._pseudonyms[key] = tracking.pseudonym(salt, subscriber_id)
        return reader

    def _rows(self, batch, salts, sent_at):
        rows, late = [], []
        for hit in batch:
            seen = Seen(hit.method, hit.ip, hit.user_agent, hit.occurred_at)
            reason = machine_reason(
                seen,
                sent_at=sent_at.get((hit.issue_id, hit.subscriber_id)),
                after_delivery=self.after_delivery,
            )
            if hit.mode == PrivacyMode.aggregate:
                who = ("reader", self._pseudonym(salts[hit.issue_id], hit.subscriber_id))
            else:
                who = ("subscriber_id", hit.subscriber_id)
            row = {
                "issue_id": hit.issue_id,
                "kind": hit.kind,
                "link_id": hit.link_id,
                "excerpt_id": hit.excerpt_id,
                "variant": list(hit.variant),
                "reader": None,
                "subscriber_id": None,
                who[0]: who[1],
                "machine": bool(reason),
                "machine_reason": reason,
                "occurred_at": hit.occurred_at,
            }
            rows.append(row)
            if hit.kind == EventKind.click and not reason:
                span = self._bursts.click((hit.issue_id, *who), hit.link_id, hit.occurred_at)
                if span:
                    _flag_rows(rows, hit.issue_id, who, span)
                    late.append((hit.issue_id, *who, *span))
        if batch:
            self._bursts.forget_before(batch[-1].occurred_at - timedelta(seconds=BURST_SECONDS))
        return rows, late


COLUMNS = (
    "issue_id",
    "kind",
    "link_id",
    "excerpt_id",
    "variant",
    "reader",
    "subscriber_id",
    "machine",
    "machine_reason",
    "occurred_at",
)

SQLITE_INSERT = (
    "INSERT INTO engagement_event (issue_id, kind, link_id, excerpt_id, variant, reader,"
    " subscriber_id, machine, machine_reason, occurred_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _insert(session: Session, rows: list[dict]) -> None:
    """All rows at once: COPY on PostgreSQL (one round trip, no per-row statement), the
    driver's executemany on SQLite with values already in SQLAlchemy's storage format (its
    per-row parameter processing cost more than the insert), Core executemany elsewhere."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(SQLITE_INSERT, [_sqlite_values(row) for row in rows])
        return
    if connection.dialect.name != "postgresql":
        connection.execute(insert(EngagementEvent.__table__), rows)
        return
    sql = f"COPY engagement_event ({', '.join(COLUMNS)}) FROM STDIN"
    with connection.connection.driver_connection.cursor() as cursor, cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row([json.dumps(row[c]) if c == "variant" else row[c] for c in COLUMNS])


def _sqlite_values(row: dict) -> tuple:
    # As SQLAlchemy stores them on SQLite: JSON text, 0/1, naive "YYYY-MM-DD HH:MM:SS.ffffff".
    return (
        row["issue_id"],
        row["kind"],
        row["link_id"],
        row["excerpt_id"],
        json.dumps(row["variant"]),
        row["reader"],
        row["subscriber_id"],
        int(row["machine"]),
        row["machine_reason"],
        row["occurred_at"].strftime("%Y-%m-%d %H:%M:%S.%f"),
    )


def _flag_rows(rows: list[dict], issue_id: int, who: tuple, span: tuple) -> None:
    start, end = span
    for row in rows:
        if (
            row["issue_id"] == issue_id
            and row["kind"] == EventKind.click
            and row[who[0]] == who[1]
            and start <= row["occurred_at"] <= end
            and not row["machine"]
        ):
            row["machine"], row["machine_reason"] = True, "burst"


def _flag_burst(session, issue_id, column, value, start, end) -> None:
    """Clicks of the burst written by an earlier batch."""
    session.execute(
        update(EngagementEvent)
        .where(
            EngagementEvent.issue_id == issue_id,
            EngagementEvent.kind == EventKind.click,
            getattr(EngagementEvent, column) == value,
            EngagementEvent.occurred_at.between(start, end),
            EngagementEvent.machine.is_(False),
        )
        .values(machine=True, machine_reason="burst")
    )


def _one_of(session: Session, column, ids: set[int]):
    """`column IN ids`. On PostgreSQL as one array parameter (`= ANY(:ids)`): an IN list of
    up to 500 values is expanded, sent and parsed as new SQL text for every batch, which
    was the largest part of the writer's own CPU time there."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam("ids", list(ids), type_=ARRAY(Integer)))
    return column.in_(ids)


def _still_there(session: Session, batch: list[Hit]) -> list[Hit]:
    """Hits of issues and links that still exist (deleted meanwhile: nothing to count).
    In individual mode a deleted subscriber's hit keeps no subscriber id."""
    issue_ids = {h.issue_id for h in batch}
    issues = set(session.scalars(select(Issue.id).where(_one_of(session, Issue.id, issue_ids))))
    link_ids = {h.link_id for h in batch if h.link_id is not None}
    links = set()
    if link_ids:
        where = _one_of(session, TrackedLink.id, link_ids)
        links = set(session.scalars(select(TrackedLink.id).where(where)))
    kept = [h for h in batch if h.issue_id in issues and (h.link_id is None or h.link_id in links)]
    if len(kept) < len(batch):
        log.info("tracking: %d hits of deleted issues or links skipped", len(batch) - len(kept))
    individual = [h for h in kept if h.mode == PrivacyMode.individual]
    if individual:
        subscriber_ids = {h.subscriber_id for h in individual}
        where = _one_of(session, Subscriber.id, subscriber_ids)
        known = set(session.scalars(select(Subscriber.id).where(where)))
        for hit in individual:
            if hit.subscriber_id not in known:
                hit.subscriber_id = None
    return kept


def _sent_at(session: Session, batch: list[Hit]) -> dict[tuple[int, int], datetime]:
    """When each hit's message was sent (one query per issue in the batch)."""
    wanted: dict[int, set[int]] = defaultdict(set)
    for hit in batch:
        wanted[hit.issue_id].add(hit.subscriber_id)
    found = {}
    for issue_id, subscriber_ids in wanted.items():
        rows = session.execute(
            select(Delivery.subscriber_id, Delivery.sent_at).where(
                Delivery.issue_id == issue_id,
                _one_of(session, Delivery.subscriber_id, subscriber_ids),
                Delivery.sent_at.is_not(None),
            )
        )
        for subscriber_id, sent_at in rows:
            aware = sent_at if sent_at.tzinfo else sent_at.replace(tzinfo=UTC)
            found[(issue_id, subscriber_id)] = aware
    return found
