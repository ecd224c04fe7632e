"""Two `drumbeat worker` processes on the real Redis broker share one send on PostgreSQL.

PostgreSQL only, by construction: the database is made here from `postgres_server_url`
(two processes claiming batches side by side is what SKIP LOCKED is for), so there is no
SQLite variant to skip. Redis must answer at DRUMBEAT_TEST_REDIS_URL (default
redis://127.0.0.1:6379); the test takes an empty numbered database of it and empties it
again afterwards.
"""

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session
from taskiq.kicker import AsyncKicker
from taskiq_redis import ListQueueBroker

from app.accounts.principal import CLI_PRINCIPAL
from app.audit.models import AuditEntry
from app.db import make_engine, unit_of_work
from app.delivery import service as sending
from app.delivery.models import Delivery, RunState
from app.delivery.tasks import send_issue_task
from app.issues.models import Issue
from bench.scale_out import listening
from tests.conftest import _fresh_postgres_database, migrate
from tests.delivery.factories import approved_issue, issue_status, people, static_segment

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("DRUMBEAT_TEST_REDIS_URL", "redis://127.0.0.1:6379")
AUDIENCE = 2000
TIMEOUT = 60  # seconds, for the workers to start and for the send to finish


@pytest.fixture(scope="module")
def postgres_url(postgres_server_url) -> Iterator[str]:
    database = _fresh_postgres_database(postgres_server_url)
    url = next(database)
    migrate(url)
    yield url
    next(database, None)


@pytest.fixture
def pg_engine(postgres_url) -> Iterator[Engine]:
    engine = make_engine(postgres_url)
    yield engine
    engine.dispose()


@pytest.fixture
def broker_url() -> Iterator[str]:
    """A Redis database of our own: one that is empty, claimed with a key, flushed after."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")
    token = secrets.token_hex(8)
    for number in range(15, 0, -1):
        client = redis.Redis.from_url(f"{REDIS_URL}/{number}", socket_timeout=2)
        # Empty, and still empty but for our claim: no other test run is using it.
        if client.dbsize() == 0 and client.set("drumbeat-test", token, nx=True):
            if client.dbsize() == 1:
                break
            client.delete("drumbeat-test")
        client.close()
    else:
        pytest.skip("no empty Redis database (1-15) for the workers' queue")
    try:
        yield f"{REDIS_URL}/{number}"
    finally:
        client.flushdb()
        client.close()


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    # Its own process group: `drumbeat worker` becomes `taskiq worker`, which forks the
    # process that sends; the group is killed as a whole. The log is a file: an unread pipe
    # that fills up would stall the worker.
    with log.open("wb") as output:
        return subprocess.Popen(  # noqa: S603 (our own command)
            [str(Path(sys.executable).with_name("drumbeat")), "worker"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


async def enqueue(broker_url: str, issue_id: int, times: int) -> None:
    broker = ListQueueBroker(broker_url)
    await broker.startup()
    try:
        for _ in range(times):
            await AsyncKicker(send_issue_task.task_name, broker, {}).kiq(issue_id)
    finally:
        await broker.shutdown()


def test_two_worker_processes_share_a_send_and_each_recipient_gets_one_message(
    pg_engine, postgres_url, broker_url, smtp_sink, tmp_path
):
    issue_id = approved_issue(
        pg_engine, [static_segment(pg_engine, "All", people(pg_engine, AUDIENCE))]
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRUMBEAT_")}
    env |= {
        # As in an activated virtualenv: `drumbeat worker` looks the taskiq command up.
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        "DRUMBEAT_DATABASE_URL": postgres_url,
        "DRUMBEAT_BROKER_URL": broker_url,
        "DRUMBEAT_MAIL_URL": smtp_sink.url(),
        "DRUMBEAT_SECRET_KEY": "workers-test-secret",
        "DRUMBEAT_VAR_DIR": str(tmp_path),
        "DRUMBEAT_SMTP_POOL_SIZE": "4",
    }
    logs = [tmp_path / "worker-1.log", tmp_path / "worker-2.log"]
    workers: list[subprocess.Popen] = []

    def diagnosis() -> str:
        with Session(pg_engine) as session:
            counts = sending.counts(session, issue_id=issue_id)
        tails = "\n".join(log.read_text(errors="replace")[-2000:] for log in logs)
        return f"ledger {counts}, {len(smtp_sink.received)} received; worker logs:\n{tails}"

    try:
        workers += [start_worker(env, log) for log in logs]
        deadline = time.monotonic() + TIMEOUT
        while listening(broker_url) < 2:
            for worker in workers:
                assert worker.poll() is None, diagnosis()
            assert time.monotonic() < deadline, "the workers did not listen: " + diagnosis()
            time.sleep(0.1)

        with unit_of_work(pg_engine) as session:
            sending.start(session, issue=session.get(Issue, issue_id), actor=CLI_PRINCIPAL)
        # Both wait on the queue; Redis hands each message to the longest waiting one.
        asyncio.run(enqueue(broker_url, issue_id, times=2))

        owners: set[str] = set()  # who held leases while the send ran
        deadline = time.monotonic() + TIMEOUT
        while issue_status(pg_engine, issue_id) != "sent":
            with Session(pg_engine) as session:
                owners |= set(
                    session.scalars(
                        select(Delivery.lease_owner)
                        .where(Delivery.issue_id == issue_id, Delivery.lease_owner != "")
                        .distinct()
                    )
                )
            for worker in workers:
                assert worker.poll() is None, diagnosis()
            assert time.monotonic() < deadline, "the send did not finish: " + diagnosis()
            time.sleep(0.02)
    finally:
        for worker in workers:
            with contextlib.suppress(ProcessLookupError):  # the group is gone already
                os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)

    for log in logs:  # no task failed, no worker crashed
        assert "Traceback" not in log.read_text(errors="replace"), diagnosis()
    received = Counter(r for message in smtp_sink.received for r in message.rcpt_tos)
    assert received == Counter({f"p{i}@example.com": 1 for i in range(AUDIENCE)})
    assert len(owners) == 2, f"one worker did all the work: {owners}"
    with Session(pg_engine) as session:
        run = sending.run_of(session, issue_id=issue_id)
        assert run.state == RunState.done
        assert sending.counts(session, issue_id=issue_id)["sent"] == AUDIENCE
        finished = session.scalar(select(func.count()).where(AuditEntry.action == "issue.sent"))
        assert finished == 1, "the send was finished (and announced) more than once"
