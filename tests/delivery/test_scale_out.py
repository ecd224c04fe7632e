"""The scale-out topology of `make scale-out` (bench/scale_out.py), shown, not claimed: two
app processes and two `drumbeat worker` processes on PostgreSQL and the real Redis send one
issue to 20,000 recipients into an aiosmtpd sink, while readers' opens and clicks reach both
apps over HTTP, during the send and after it.

The topology is started by `bench.scale_out.topology`, the code `make scale-out` runs (on
free ports instead of 8001 and 8002, with the sink as the mail relay). The send is started
as an approver would, through the API of the first app. Every hit uses the real signed
tokens found in the message the sink received for that reader: the open pixel of every
message as it arrives (the apps take turns), then a click of every CLICK_EVERY-th reader
once the issue is sent. Each app process records its hits in batches (app/tracking/
recorder.py: a flush every 0.2 s, or at 500 hits); the test waits until the database holds
one event per hit made, then stops the apps gracefully (which writes what is still queued)
and counts again.

Skips like test_workers.py when PostgreSQL or Redis is not reachable (failures with
DRUMBEAT_REQUIRE_SERVICES=1), whose fixtures it shares.
"""

import http.client
import os
import queue
import quopri
import re
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlmodel import Session

from app.accounts.models import Role
from app.delivery import service as sending
from app.delivery.models import Delivery, RunState
from app.tracking.models import EngagementEvent
from app.tracking.tokens import Purpose, TokenSigner
from bench.scale_out import environment, topology
from tests.conftest import make_user, make_user_token
from tests.delivery import test_workers
from tests.delivery.factories import issue_status, people, static_segment
from tests.smtp_servers import _free_port
from tests.tracking.factories import linked_issue

AUDIENCE = 20_000
CLICK_EVERY = 4  # every 4th reader comes back and clicks the call to action
SECRET = "scale-out-test-secret"
SEND_TIMEOUT = 180  # seconds for the 20,000 messages (about 60 on a loaded 2-core machine)
FLUSH_TIMEOUT = 60  # seconds for the recorders to write every hit
# test_workers.py's fixtures: a fresh migrated PostgreSQL database of this module, an engine
# on it, and an empty numbered Redis database of our own (each skips when its server is not
# reachable).
postgres_url = test_workers.postgres_url
pg_engine = test_workers.pg_engine
broker_url = test_workers.broker_url
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
PIXEL = re.compile(rb"/o/([\w-]+\.[\w-]+)\.gif")
CLICK = re.compile(rb"/c/([\w-]+\.[\w-]+)/([\w-]+\.[\w-]+)")


@dataclass
class Readers:
    """Opens and clicks over HTTP: one thread per app, each on a kept-alive connection, taking
    the hits queued for its app; counts only the answers a browser would get (the GIF,
    the redirect), anything else is an error the test reports."""

    apps: list[tuple[str, int]]
    made: Counter = field(default_factory=Counter)  # (app index, kind)
    made_while_sending: int = 0
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.queues = [queue.Queue() for _ in self.apps]
        self.sending = True
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, args=(index,), name=f"reader-{index}", daemon=True)
            for index in range(len(self.apps))
        ]
        for thread in self._threads:
            thread.start()

    def hit(self, index: int, kind: str, path: str) -> None:
        self.queues[index % len(self.apps)].put((kind, path))

    def wait(self) -> None:
        for jobs in self.queues:
            jobs.join()

    def close(self) -> None:
        for jobs in self.queues:
            jobs.put(None)
        for thread in self._threads:
            thread.join(timeout=30)

    def _run(self, index: int) -> None:
        host, port = self.apps[index]
        jobs = self.queues[index]
        connection, used = None, 0.0
        headers = {"User-Agent": BROWSER}
        while (job := jobs.get()) is not None:
            kind, path = job
            try:
                # uvicorn closes a connection idle for 5 s: a fresh one after a pause, so a
                # request is never sent on a connection the server is closing.
                if connection is None or time.monotonic() - used > 2:
                    if connection is not None:
                        connection.close()
                    connection = http.client.HTTPConnection(host, port, timeout=30)
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                response.read()
                used = time.monotonic()
                expected = 200 if kind == "open" else 302
                with self._lock:
                    if response.status == expected:
                        self.made[(index, kind)] += 1
                        self.made_while_sending += self.sending
                    else:
                        self.errors.append(f"{kind} {path} on :{port}: {response.status}")
            except (OSError, http.client.HTTPException) as exc:
                with self._lock:
                    self.errors.append(f"{kind} {path} on :{port}: {exc!r}")
                connection = None
            finally:
                jobs.task_done()
        if connection is not None:
            connection.close()

    def total(self, kind: str | None = None) -> int:
        return sum(n for (_, k), n in self.made.items() if kind in (None, k))


def tokens_of(content: bytes) -> tuple[str, tuple[str, str]]:
    """The reader's open pixel token and first tracked link (link token, reader token)."""
    body = quopri.decodestring(content)
    pixel, click = PIXEL.search(body), CLICK.search(body)
    assert pixel and click, "a sent message without its open pixel or tracked link"
    return pixel.group(1).decode(), (click.group(1).decode(), click.group(2).decode())


def lease_owners(engine, issue_id: int) -> set[str]:
    with Session(engine) as session:
        return set(
            session.scalars(
                select(Delivery.lease_owner)
                .where(Delivery.issue_id == issue_id, Delivery.lease_owner != "")
                .distinct()
            )
        )


def engagement_events(engine, issue_id: int) -> Counter:
    with Session(engine) as session:
        rows = session.execute(
            select(EngagementEvent.kind, func.count())
            .where(EngagementEvent.issue_id == issue_id)
            .group_by(EngagementEvent.kind)
        )
        return Counter(dict(rows.all()))


def test_two_apps_and_two_workers_send_20000_once_each_and_count_every_hit(
    pg_engine, postgres_url, broker_url, smtp_sink, tmp_path
):
    started = time.monotonic()
    audience = people(pg_engine, AUDIENCE)
    issue_id = linked_issue(pg_engine, [static_segment(pg_engine, "All", audience)])
    approver = make_user(pg_engine, email="approver@example.com", role=Role.approver)
    token = make_user_token(pg_engine, approver)
    prepared = time.monotonic()

    ports = (_free_port(), _free_port())
    base = {k: v for k, v in os.environ.items() if not k.startswith("DRUMBEAT_")}
    env = environment(
        base
        | {
            "DRUMBEAT_DATABASE_URL": postgres_url,
            "DRUMBEAT_BROKER_URL": broker_url,
            "DRUMBEAT_MAIL_URL": smtp_sink.url(),
            "DRUMBEAT_SECRET_KEY": SECRET,
            "DRUMBEAT_VAR_DIR": str(tmp_path),
        },
        ports=ports,
    )
    assert env["DRUMBEAT_SEND_TASKS_PER_ISSUE"] == "2", "a send is one task per worker"
    signer = TokenSigner(SECRET)
    readers_of: set[int] = set()  # the subscriber of each message's reader token
    clicks: list[str] = []

    with topology(env, ports=ports, workers=2, log_dir=tmp_path) as running:
        readers = Readers([("127.0.0.1", port) for port in ports])

        def diagnosis() -> str:
            with Session(pg_engine) as session:
                counts = sending.counts(session, issue_id=issue_id)
            logs = "\n".join(f"--- {p.role} {p.name}\n{p.tail()}" for p in running.processes)
            return f"ledger {counts}, {len(smtp_sink.received)} received\n{logs}"

        try:
            answer = _post(ports[0], f"/api/v1/issues/{issue_id}/send", token)
            assert answer == 202, diagnosis()
            send_started = time.monotonic()

            # Opens as the messages arrive, the apps taking turns; clicks kept for later.
            seen, deadline = 0, send_started + SEND_TIMEOUT
            owners: set[str] = set()  # the workers holding leases while the send runs
            polls = 0
            while True:
                done = issue_status(pg_engine, issue_id) == "sent"
                polls += 1
                if readers.sending and polls % 10 == 0:
                    owners |= lease_owners(pg_engine, issue_id)
                if done and readers.sending:
                    readers.sending, send_seconds = False, time.monotonic() - send_started
                arrived = len(smtp_sink.received)
                for index in range(seen, arrived):
                    pixel, click = tokens_of(smtp_sink.received[index].content)
                    reader = signer.read(Purpose.reader, pixel)
                    assert reader is not None and reader[0] == issue_id, pixel
                    readers_of.add(reader[1])
                    readers.hit(index, "open", f"/o/{pixel}.gif")
                    if index % CLICK_EVERY == 0:
                        clicks.append(f"/c/{click[0]}/{click[1]}")
                seen = arrived
                if done and seen >= AUDIENCE:
                    break
                running.check_alive()
                assert time.monotonic() < deadline, "the send did not finish: " + diagnosis()
                time.sleep(0.05)
            readers.wait()
            opens_while_sending = readers.made_while_sending
            # ... and some readers come back to click, once the issue is out.
            for index, path in enumerate(clicks):
                readers.hit(index, "click", path)
            readers.wait()
            hits_done = time.monotonic()

            expected = Counter({"open": readers.total("open"), "click": readers.total("click")})
            deadline = time.monotonic() + FLUSH_TIMEOUT
            while (stored := engagement_events(pg_engine, issue_id)) != expected:
                assert time.monotonic() < deadline, f"events {stored}, hits {expected}"
                time.sleep(0.2)
            flushed = time.monotonic()
        finally:
            readers.close()
    # Stopped gracefully: each app ran its shutdown, which drains its recorder (nothing more
    # to write, nothing written twice).
    for process in running.processes:
        assert not process.killed, f"{process.name} did not stop on SIGTERM\n{process.tail()}"
    for app in running.apps:
        assert "Application shutdown complete" in app.tail(), app.tail()
    assert engagement_events(pg_engine, issue_id) == expected

    for process in running.processes:  # no request or task failed, nothing crashed
        assert "Traceback" not in process.tail(10**7), process.tail()
    assert readers.errors == [], readers.errors[:10]

    # Every recipient got the issue once: none missing, none twice.
    received = Counter(r for message in smtp_sink.received for r in message.rcpt_tos)
    wanted = {f"p{i}@example.com" for i in range(AUDIENCE)}
    missing, extra = wanted - set(received), set(received) - wanted
    duplicates = sum(n - 1 for n in received.values())
    assert (len(missing), len(extra), duplicates) == (0, 0, 0)
    assert set(readers_of) == set(audience), "each message carries its own reader's token"
    with Session(pg_engine) as session:
        assert sending.run_of(session, issue_id=issue_id).state == RunState.done
        counts = sending.counts(session, issue_id=issue_id)
    assert counts == {**dict.fromkeys(counts, 0), "sent": AUDIENCE}
    assert len(owners) == 2, f"not both workers sent: {owners}"

    # Hits reached both apps, during the send and after it, and each was counted once.
    for index in range(len(ports)):
        assert readers.made[(index, "open")] > 0 and readers.made[(index, "click")] > 0
    assert expected == {"open": AUDIENCE, "click": AUDIENCE // CLICK_EVERY}
    assert opens_while_sending > 0, "no hit arrived while the issue was being sent"
    print(
        f"\nscale-out: {AUDIENCE} recipients sent in {send_seconds:.1f} s by 2 workers "
        f"(audience made in {prepared - started:.1f} s); 0 missing, {duplicates} duplicates; "
        f"{expected.total()} hits ({opens_while_sending} during the send) over "
        f"{[sum(n for (i, _), n in readers.made.items() if i == a) for a in range(len(ports))]}"
        f" per app, all stored {flushed - hits_done:.1f} s after the last hit; "
        f"{time.monotonic() - started:.1f} s in all",
        file=sys.stderr,
    )


def _post(port: int, path: str, token: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", path, headers={"Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()
