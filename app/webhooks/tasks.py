"""Delivering the outbox: `deliver_due` sends what is due; a background runner calls it.

Each delivery goes through three short steps, so no database transaction is open while we
wait on the network: claim it (count the attempt and push `next_attempt_at` a lease ahead,
commit), send it, record the outcome (new transaction). A worker that dies mid-send leaves a
claimed row that is due again when the lease runs out: receivers may see a delivery twice
and deduplicate on its id, but never miss one.
"""

import json
import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from pydantic_core import to_jsonable_python
from sqlalchemy import Engine, select, update
from sqlmodel import Session

from app.config import Settings
from app.db import unit_of_work, utcnow
from app.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from app.webhooks.signing import SIGNATURE_HEADER, signature_header

log = logging.getLogger("drumbeat.webhooks")

# Wait after failed attempt n (1-based); the last step repeats if more attempts are allowed.
BACKOFF = (
    timedelta(seconds=10),
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
)
DEFAULT_MAX_ATTEMPTS = 6
# A claimed row is due again after this: far longer than one send may take (each httpx
# timeout phase is a few seconds), short enough that a crashed worker's rows are soon retried.
CLAIM_LEASE = timedelta(minutes=2)
USER_AGENT = "Drumbeat-Webhooks"
MAX_ERROR_LENGTH = 1000
MAX_RESPONSE_EXCERPT = 300


@dataclass(frozen=True)
class Claimed:
    delivery_id: int
    attempt: int  # this attempt's number, 1-based
    event: str
    payload: dict[str, Any]
    created_at: datetime
    url: str
    secret: str


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def deliver_due(
    engine: Engine,
    *,
    client: httpx.Client,
    now: datetime | None = None,
    limit: int = 50,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> int:
    """Send up to `limit` due deliveries, one after another; returns how many were attempted."""
    attempted = 0
    while attempted < limit:
        current = now or utcnow()
        claimed = claim_next(engine, now=current)
        if claimed is None:
            break
        outcome = send(client, claimed, now=current)
        record_outcome(engine, claimed, outcome, now=current, max_attempts=max_attempts)
        attempted += 1
    return attempted


def claim_next(engine: Engine, *, now: datetime) -> Claimed | None:
    """Take the next due delivery of an active endpoint for this worker, committed at once."""
    query = (
        select(
            WebhookDelivery.id,
            WebhookDelivery.attempts,
            WebhookDelivery.event,
            WebhookDelivery.payload,
            WebhookDelivery.created_at,
            WebhookEndpoint.url,
            WebhookEndpoint.secret,
        )
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(
            WebhookDelivery.status == DeliveryStatus.pending,
            WebhookDelivery.next_attempt_at <= now,
            WebhookEndpoint.is_active.is_(True),
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(1)
    )
    if engine.dialect.name == "postgresql":
        # Concurrent workers each get a different row instead of queueing behind one lock.
        query = query.with_for_update(of=WebhookDelivery, skip_locked=True)
    for _ in range(10):
        with Session(engine) as session:
            row = session.execute(query).first()
            if row is None:
                return None
            # The guard on `attempts` makes the claim safe without row locks (SQLite): if
            # another worker claimed the row since we read it, nothing is updated.
            claimed = session.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id == row.id,
                    WebhookDelivery.status == DeliveryStatus.pending,
                    WebhookDelivery.attempts == row.attempts,
                )
                .values(
                    attempts=row.attempts + 1,
                    last_attempt_at=now,
                    next_attempt_at=now + CLAIM_LEASE,
                )
            )
            if claimed.rowcount != 1:
                session.rollback()
                continue
            session.commit()
            return Claimed(
                delivery_id=row.id,
                attempt=row.attempts + 1,
                event=row.event,
                payload=row.payload,
                created_at=row.created_at,
                url=row.url,
                secret=row.secret,
            )
    return None


def envelope_body(claimed: Claimed) -> bytes:
    """The JSON body: the delivery id (for deduplication), event, when it happened, data."""
    envelope = {
        "id": claimed.delivery_id,
        "event": claimed.event,
        "created_at": to_jsonable_python(claimed.created_at),
        "data": claimed.payload,
    }
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()


def send(client: httpx.Client, claimed: Claimed, *, now: datetime) -> Outcome:
    """POST one delivery; every failure becomes an Outcome, never an exception."""
    body = envelope_body(claimed)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Drumbeat-Event": claimed.event,
        "X-Drumbeat-Delivery": str(claimed.delivery_id),
        SIGNATURE_HEADER: signature_header(
            claimed.secret, timestamp=int(now.timestamp()), body=body
        ),
    }
    try:
        with client.stream("POST", claimed.url, content=body, headers=headers) as response:
            if response.is_success:
                return Outcome(response.status_code, None)
            # Only the start of an error page: enough to diagnose, never a huge download.
            excerpt = _first_bytes(response, MAX_RESPONSE_EXCERPT).decode(errors="replace")
            return Outcome(response.status_code, f"HTTP {response.status_code}: {excerpt}")
    except httpx.HTTPError as exc:
        return Outcome(None, f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # a bad row must not stop the queue; the next one still goes
        log.exception("webhook delivery %s could not be sent", claimed.delivery_id)
        return Outcome(None, f"{type(exc).__name__}: {exc}")


def _first_bytes(response: httpx.Response, size: int) -> bytes:
    received = b""
    for chunk in response.iter_bytes():
        received += chunk
        if len(received) >= size:
            break
    return received[:size]


def retry_delay(attempt: int) -> timedelta:
    """How long to wait after failed attempt number `attempt` (1-based)."""
    return BACKOFF[min(attempt, len(BACKOFF)) - 1]


def record_outcome(
    engine: Engine, claimed: Claimed, outcome: Outcome, *, now: datetime, max_attempts: int
) -> None:
    """Delivered, failed for good, or pending again after the backoff."""
    values: dict[str, Any] = {
        "last_status_code": outcome.status_code,
        "last_error": outcome.error[:MAX_ERROR_LENGTH] if outcome.error else None,
    }
    if outcome.ok:
        values |= {"status": DeliveryStatus.delivered, "delivered_at": now, "next_attempt_at": None}
    elif claimed.attempt >= max_attempts:
        values |= {"status": DeliveryStatus.failed, "next_attempt_at": None}
        log.warning(
            "webhook delivery %s to %s failed after %s attempts: %s",
            claimed.delivery_id,
            claimed.url,
            claimed.attempt,
            outcome.error,
        )
    else:
        values["next_attempt_at"] = now + retry_delay(claimed.attempt)
    with unit_of_work(engine) as session:
        # Only if the row is still ours: after an expired lease, another worker owns it.
        session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == claimed.delivery_id,
                WebhookDelivery.status == DeliveryStatus.pending,
                WebhookDelivery.attempts == claimed.attempt,
            )
            .values(**values)
        )


class WebhookRunner:
    """A daemon thread that delivers every `poll_seconds`, and at once when nudged."""

    batch_size = 10  # between batches the runner notices a shutdown

    def __init__(
        self, engine: Engine, *, poll_seconds: float, timeout_seconds: float, max_attempts: int
    ):
        self.engine = engine
        self.poll_seconds = poll_seconds
        self.timeout_seconds = timeout_seconds
        self.max_attempts = max_attempts
        self.last_round_at: datetime | None = None  # when the runner last looked for work
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="drumbeat-webhooks", daemon=True)

    def start(self) -> None:
        _register(self)
        self._wake.set()  # deliver what waited while no process was running
        self._thread.start()

    def nudge(self) -> None:
        self._wake.set()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        """Stop after the delivery in flight, if any (which is retried if it does not finish)."""
        _unregister(self)
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout=self.timeout_seconds * 3 + 2)
        if self._thread.is_alive():
            log.warning("webhook runner still busy at shutdown; its delivery will be retried")

    def _run(self) -> None:
        with httpx.Client(timeout=self.timeout_seconds, follow_redirects=False) as client:
            while not self._stopping.is_set():
                self._wake.wait(self.poll_seconds)
                # Cleared before delivering: a nudge that arrives meanwhile means another round.
                self._wake.clear()
                while not self._stopping.is_set() and self._deliver_batch(client):
                    pass

    def _deliver_batch(self, client: httpx.Client) -> bool:
        """One batch; True when the batch was full and more may be due."""
        try:
            attempted = deliver_due(
                self.engine, client=client, limit=self.batch_size, max_attempts=self.max_attempts
            )
        except Exception:
            log.exception("webhook delivery round failed; trying again at the next poll")
            return False
        finally:
            self.last_round_at = utcnow()
        return attempted == self.batch_size


def start_runner(engine: Engine, settings: Settings) -> WebhookRunner | None:
    """Start background delivery for the app, unless settings turn it off."""
    if not settings.webhooks_enabled:
        return None
    runner = WebhookRunner(
        engine,
        poll_seconds=settings.webhook_poll_seconds,
        timeout_seconds=settings.webhook_timeout_seconds,
        max_attempts=settings.webhook_max_attempts,
    )
    runner.start()
    return runner


# Running runners by database, so a commit that queued deliveries can wake them.
_runners: dict[str, set[WebhookRunner]] = {}
_runners_lock = threading.Lock()


def _database_key(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def _register(runner: WebhookRunner) -> None:
    with _runners_lock:
        _runners.setdefault(_database_key(runner.engine), set()).add(runner)


def _unregister(runner: WebhookRunner) -> None:
    with _runners_lock:
        _runners.get(_database_key(runner.engine), set()).discard(runner)


def nudge(engine: Engine) -> None:
    """Wake this process's runners for the engine's database (called after a commit)."""
    with _runners_lock:
        runners = list(_runners.get(_database_key(engine), ()))
    for runner in runners:
        runner.nudge()
