"""Figure: 10,000 recipients of a ~50 kB issue in at most 60 s on SQLite, at >= 70 % of a bare loop.

    .venv/bin/python -m bench.deliver [--recipients 10000] [--pools 4 8] [--rounds 3]
                                      [--excerpts 6] [--databases sqlite postgres]
                                      [--quiet-load 0.6] [--profile]

An aiosmtpd sink runs in a process of its own on 127.0.0.1 (so its CPU is not the worker's);
it accepts everything and keeps only counts (messages, recipients, bytes) and its CPU time.

For each pool size, each database gets a fresh migrated database with `--recipients`
subscribers (seed 2026, all active) in one static segment and an approved bulletin built
from the excerpts of bench/render.py (framings for that segment, so everyone gets them),
sized to about 50 kB per message. `app.delivery.service.start` opens the run; then a fresh
worker process (only the app imported, an engine, a Renderer, an `SmtpTransport` pool) runs
`app.delivery.worker.send_issue` to completion with the production in-flight setting: the
audience freeze, claims, rendering, the `sending` marks and the recorded replies all count.
Measured: wall time of `send_issue`, messages per second, the worker's CPU time, and its
peak RSS during the send (VmHWM from /proc/self/status of that worker process, reset through
/proc/self/clear_refs just before the send; ru_maxrss would not do, see `memory`), next to
its RSS just before the send. Afterwards the ledger must say `sent` for every recipient and
the sink must have counted each message once. The worker's synchronous steps are wrapped
with timers, so the send splits into stages; "SMTP in flight" is the time during which at
least one message was handed to the transport and not yet answered.

Baselines, each in a fresh process in the same run against the same sink:
- the same precomputed message bytes (one real rendered message) to the same recipients
  over the same `SmtpTransport` pool, `pool` coroutines keeping every connection busy
  (no database, no rendering): the figure the engine is compared with;
- the same, sent in lockstep groups of `pool` (send a group, wait for all its replies),
  the shape the worker's loop has: for context;
- a bare aiosmtplib `SMTP.sendmail` loop on `pool` persistent connections: for context.

`--profile` adds one SQLite send (largest pool) under cProfile, outside the figures
(`--rounds 0 --profile`: only that).
"""

import argparse
import asyncio
import cProfile
import io
import multiprocessing
import os
import pstats
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from unittest import mock

from aiosmtpd.controller import Controller
from aiosmtplib import SMTP
from sqlalchemy import insert, select
from sqlmodel import Session

from app.accounts.principal import CLI_PRINCIPAL
from app.db import make_engine, unit_of_work, utcnow
from app.delivery import service as sending
from app.delivery import worker
from app.delivery.models import RunState
from app.delivery.transports import SmtpTransport
from app.delivery.worker import IN_FLIGHT_PER_CONNECTION, WorkerConfig, send_issue
from app.issues.models import Issue, IssueStatus
from app.rendering.message import MessageFactory
from app.rendering.service import Renderer
from app.segments.models import Segment, SegmentKind, SegmentMember
from app.subscribers.models import Subscriber
from app.tracking.tokens import TokenSigner
from bench.harness import FRESH_DATABASES, people, print_machine, print_table
from bench.harness import usable_databases as usable
from bench.render import (
    FRAMED_SEGMENT,
    SECRET_KEY,
    code_state,
    load_average,
    settings_for,
    wait_for_quiet,
    write_issue,
)

RATIO_TARGET = 0.70  # of the bare loop over the same pool
SQLITE_TARGET_S = 60.0
MESSAGE_SIZE_GOAL = 50_000
SINK_HOST = "127.0.0.1"
SEGMENT_NAME = "All staff (static list)"
SENDER = settings_for().mail_from_address
DATABASE_NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


# --- the sink, in a process of its own ------------------------------------------------------


class CountingHandler:
    """Accepts every message; keeps counts, never the bodies."""

    def __init__(self) -> None:
        self.messages = self.recipients = self.bytes = 0

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages += 1
        self.recipients += len(envelope.rcpt_tos)
        self.bytes += len(envelope.original_content or b"")
        return "250 2.0.0 Ok: counted"


@dataclass(frozen=True)
class SinkCounts:
    messages: int
    recipients: int
    bytes: int
    cpu: float  # the sink process's CPU seconds so far

    def __sub__(self, other: "SinkCounts") -> "SinkCounts":
        return SinkCounts(
            self.messages - other.messages,
            self.recipients - other.recipients,
            self.bytes - other.bytes,
            self.cpu - other.cpu,
        )


def serve_sink(port: int, commands: Connection) -> None:
    """The sink process: aiosmtpd on 127.0.0.1:port; answers 'counts' until 'stop'."""
    handler = CountingHandler()
    controller = Controller(handler, hostname=SINK_HOST, port=port)
    controller.start()
    commands.send("ready")
    while commands.recv() != "stop":
        commands.send(
            SinkCounts(handler.messages, handler.recipients, handler.bytes, time.process_time())
        )
    controller.stop()


@dataclass
class Sink:
    port: int
    commands: Connection

    def counts(self) -> SinkCounts:
        self.commands.send("counts")
        return self.commands.recv()


@contextmanager
def sink_process() -> Iterator[Sink]:
    with socket.socket() as probe:
        probe.bind((SINK_HOST, 0))
        port = probe.getsockname()[1]
    ours, theirs = multiprocessing.get_context("spawn").Pipe()
    process = multiprocessing.get_context("spawn").Process(
        target=serve_sink, args=(port, theirs), name="bench-smtp-sink", daemon=True
    )
    process.start()
    if not ours.poll(60) or ours.recv() != "ready":
        process.kill()
        raise SystemExit("the aiosmtpd sink did not start")
    try:
        yield Sink(port, ours)
    finally:
        ours.send("stop")
        process.join(10)
        if process.is_alive():
            process.kill()


# --- data -----------------------------------------------------------------------------------


def prepare(url: str, recipients: int, excerpts: int) -> int:
    """Subscribers in one static segment and an approved issue whose send has started."""
    engine = make_engine(url)
    now = utcnow()
    rows = [
        {
            "email": p.email,
            "name": p.name,
            "attributes": p.attributes,
            "status": "active",
            "created_at": now,
            "updated_at": now,
        }
        for p in people(recipients)
    ]
    with unit_of_work(engine) as session:
        session.execute(insert(Subscriber), rows)
        segment = Segment(name=SEGMENT_NAME, kind=SegmentKind.static)
        session.add(segment)
        session.flush()
        ids = session.scalars(select(Subscriber.id).order_by(Subscriber.id)).all()
        session.execute(
            insert(SegmentMember),
            [{"segment_id": segment.id, "subscriber_id": i, "added_at": now} for i in ids],
        )
        # write_issue puts the framings on the segment it finds under FRAMED_SEGMENT: here
        # the one target segment, so every recipient gets them.
        issue = write_issue(session, {FRAMED_SEGMENT: segment.id}, excerpts)
        issue.status = IssueStatus.approved
        session.add(issue)
        session.flush()
        sending.start(session, issue=issue, actor=CLI_PRINCIPAL)
        issue_id = issue.id
    engine.dispose()
    return issue_id


def sample_message(url: str, issue_id: int) -> bytes:
    """One real message of the issue, for its size and for the baselines."""
    engine = make_engine(url)
    renderer = Renderer(settings_for(), TokenSigner(SECRET_KEY))
    with Session(engine) as session:
        issue = session.get(Issue, issue_id)
        subscriber = session.scalars(select(Subscriber).order_by(Subscriber.id)).first()
        message = renderer.message(session, issue=issue, subscriber=subscriber)
    engine.dispose()
    return message


def ledger(url: str, issue_id: int) -> tuple[str, dict[str, int]]:
    engine = make_engine(url)
    with Session(engine) as session:
        run = sending.run_of(session, issue_id=issue_id)
        found = run.state, sending.counts(session, issue_id=issue_id)
    engine.dispose()
    return found


# --- measuring in a fresh process -----------------------------------------------------------


@dataclass
class Run:
    """One send of all recipients, as measured in its worker process."""

    wall: float
    cpu: float
    rss_before: int  # bytes
    peak_rss: int  # bytes, VmHWM of the process
    messages: int
    stages: dict[str, float] = field(default_factory=dict)
    connections: int = 0
    sink: SinkCounts | None = None
    load: str = ""

    @property
    def rate(self) -> float:
        return self.messages / self.wall


def memory(field: str) -> int:
    """VmRSS, or VmHWM (the kernel's high-water mark of this process's resident set), bytes.

    Not ru_maxrss: Linux carries the forking parent's high-water mark across fork and exec,
    so a spawned worker would report the orchestrating process's peak."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
    raise SystemExit(f"no {field} in /proc/self/status")


def reset_peak() -> None:
    """Start VmHWM again from the current RSS (Linux 4.0+), so the peak is the send's and
    not that of importing this module (alembic and app.cli peak at about 170 MB)."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


class StageClock:
    """Wraps the worker's steps; "SMTP in flight" is wall time with a message outstanding."""

    IN_FLIGHT = "SMTP in flight (worker waits for replies)"

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}
        self.outstanding = 0
        self.since = 0.0

    def add(self, stage: str, started: float) -> None:
        self.spent[stage] = self.spent.get(stage, 0.0) + time.perf_counter() - started

    def timed(self, stage: str, function: Callable) -> Callable:
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.add(stage, started)

        return wrapper

    def tracked(self, send: Callable) -> Callable:
        async def wrapper(**kwargs):
            if self.outstanding == 0:
                self.since = time.perf_counter()
            self.outstanding += 1
            try:
                return await send(**kwargs)
            finally:
                self.outstanding -= 1
                if self.outstanding == 0:
                    self.add(self.IN_FLIGHT, self.since)

        return wrapper

    @contextmanager
    def installed(self, renderer: Renderer, transport: SmtpTransport) -> Iterator[None]:
        render = "render (compiled, values_for, factory, build)"
        steps = {
            "_freeze_if_needed": "freeze the audience",
            "recover_expired_leases": "recover expired leases",
            "claim": "claim a batch",
            "_mark": "mark `sending`",
            "_mark_in_flight": "mark `sending`",
            "_record": "record replies",
            "_pause_on_error_rate": "error-rate check",
        }
        with ExitStack() as stack:
            for name, stage in steps.items():
                if hasattr(worker, name):  # the worker's helpers change; time those there are
                    timed = self.timed(stage, getattr(worker, name))
                    stack.enter_context(mock.patch.object(worker, name, timed))
            stack.enter_context(
                mock.patch.object(
                    sending, "is_complete", self.timed("completion check", sending.is_complete)
                )
            )
            stack.enter_context(
                mock.patch.object(MessageFactory, "build", self.timed(render, MessageFactory.build))
            )
            for name in ("compiled", "values_for", "factory"):
                setattr(renderer, name, self.timed(render, getattr(renderer, name)))
            transport.send = self.tracked(transport.send)
            yield


def engine_job(url: str, issue_id: int, port: int, pool: int, profile_to: str | None) -> Run:
    """In a fresh process: send_issue to completion, as a worker would."""
    renderer = Renderer(settings_for(), TokenSigner(SECRET_KEY))
    engine = make_engine(url)
    transport = SmtpTransport(host=SINK_HOST, port=port, pool_size=pool)
    config = WorkerConfig(owner="bench", in_flight=IN_FLIGHT_PER_CONNECTION * pool)
    clock = StageClock()
    profiler = cProfile.Profile() if profile_to else None
    states: list[str] = []

    async def send() -> None:
        if profiler:
            profiler.enable()
        states.append(
            await send_issue(
                engine, issue_id=issue_id, transport=transport, renderer=renderer, config=config
            )
        )
        if profiler:
            profiler.disable()

    with clock.installed(renderer, transport):
        run = timed_run(send, transport.close)
    engine.dispose()
    if profiler:
        profiler.dump_stats(profile_to)
    if states != [RunState.done]:
        raise SystemExit(f"send_issue ended {states}, not done")
    run.stages = dict(clock.spent)
    rest = run.wall - sum(run.stages.values())
    run.stages["the rest (batch queries, session set-up, event loop)"] = rest
    run.connections = transport.connections_opened
    return run


def bare_transport_job(message: bytes, recipients: list[str], port: int, pool: int, lockstep: bool):
    """In a fresh process: the same bytes to every recipient over an SmtpTransport pool."""
    transport = SmtpTransport(host=SINK_HOST, port=port, pool_size=pool)
    replies: list[str] = []

    async def keep_busy() -> None:
        queue = iter(recipients)

        async def sender() -> None:
            for recipient in queue:  # shared: each coroutine takes the next recipient
                replies.append(
                    await transport.send(sender=SENDER, recipient=recipient, message=message)
                )

        await asyncio.gather(*(sender() for _ in range(pool)))

    async def in_groups() -> None:
        for start in range(0, len(recipients), pool):
            group = recipients[start : start + pool]
            replies.extend(
                await asyncio.gather(
                    *(transport.send(sender=SENDER, recipient=r, message=message) for r in group)
                )
            )

    run = timed_run(in_groups if lockstep else keep_busy, transport.close)
    check_replies(replies, len(recipients))
    run.connections = transport.connections_opened
    return run


def bare_aiosmtplib_job(message: bytes, recipients: list[str], port: int, pool: int) -> Run:
    """In a fresh process: aiosmtplib's own sendmail on `pool` persistent connections."""
    replies: list[str] = []
    clients: list[SMTP] = []

    async def go() -> None:
        queue = iter(recipients)

        async def sender() -> None:
            client = SMTP(hostname=SINK_HOST, port=port, timeout=60)
            clients.append(client)
            await client.connect()
            for recipient in queue:
                errors, _ = await client.sendmail(SENDER, [recipient], message)
                replies.append("refused" if errors else "250")  # else it raises

        await asyncio.gather(*(sender() for _ in range(pool)))

    async def quit_all() -> None:
        await asyncio.gather(*(client.quit() for client in clients))

    run = timed_run(go, quit_all)
    check_replies(replies, len(recipients))
    run.connections = len(clients)
    return run


def timed_run(work: Callable, finish: Callable | None = None) -> Run:
    """Wall and CPU time of `work()`; `finish()` (closing connections) runs after the clock,
    in the same event loop."""
    clocks: list[float] = []

    async def go() -> None:
        clocks.extend((time.perf_counter(), time.process_time()))
        await work()
        clocks.extend((time.perf_counter(), time.process_time()))
        if finish is not None:
            await finish()

    rss_before = memory("VmRSS")
    reset_peak()
    asyncio.run(go())
    wall, cpu = clocks[2] - clocks[0], clocks[3] - clocks[1]
    return Run(wall, cpu, rss_before, memory("VmHWM"), 0)


def check_replies(replies: list[str], expected: int) -> None:
    accepted = sum(1 for reply in replies if reply.startswith("250"))
    if accepted != expected:
        raise SystemExit(f"{accepted} of {expected} messages accepted")


def in_fresh_process(job: Callable, *args) -> Run:
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as executor:
        return executor.submit(job, *args).result()


def measured(sink: Sink, expected: int, job: Callable, *args) -> Run:
    """Run a job in a fresh process; the sink must count each message exactly once."""
    before = sink.counts()
    run = in_fresh_process(job, *args)
    run.sink = sink.counts() - before
    if run.sink.messages != expected or run.sink.recipients != expected:
        raise SystemExit(
            f"the sink counted {run.sink.messages} messages to {run.sink.recipients} "
            f"recipients, expected {expected}"
        )
    run.messages = expected
    run.load = load_average()
    return run


# --- main -----------------------------------------------------------------------------------


@dataclass
class Figures:
    runs: dict[tuple[str, int], list[Run]] = field(default_factory=dict)
    message: bytes = b""
    loads: list[tuple[str, str]] = field(default_factory=list)

    def add(self, what: str, pool: int, run: Run) -> None:
        self.runs.setdefault((what, pool), []).append(run)
        print(
            f"  {what:<24} pool {pool:>2}: {run.wall:6.2f} s, {run.rate:7.1f} msg/s, "
            f"worker CPU {run.cpu:6.2f} s, sink CPU {run.sink.cpu:6.2f} s, "
            f"peak RSS {run.peak_rss / 2**20:5.0f} MB, {run.connections} connections, "
            f"load {run.load}",
            flush=True,
        )

    def typical(self, what: str, pool: int) -> Run | None:
        """The run with the median wall time (the lower middle one for an even count)."""
        found = sorted(self.runs.get((what, pool), []), key=lambda run: run.wall)
        return found[(len(found) - 1) // 2] if found else None


ENGINE = "send_issue"
BARE = "bare SmtpTransport loop"
LOCKSTEP = "SmtpTransport in lockstep"
AIOSMTPLIB = "bare aiosmtplib loop"


def measure(args, sink: Sink, databases: list[str], figures: Figures) -> None:
    recipients = [person.email for person in people(args.recipients)]
    for round_number in range(1, args.rounds + 1):
        for pool in args.pools:
            print(f"Round {round_number}, pool {pool}:", flush=True)
            for database in databases:
                with FRESH_DATABASES[database]() as url:
                    issue_id = prepare(url, args.recipients, args.excerpts)
                    if not figures.message:
                        figures.message = sample_message(url, issue_id)
                    run = measured(
                        sink, args.recipients, engine_job, url, issue_id, sink.port, pool, None
                    )
                    state, counts = ledger(url, issue_id)
                    if state != RunState.done or counts["sent"] != args.recipients:
                        raise SystemExit(f"{database}: the run is {state}, counts {counts}")
                figures.add(f"{ENGINE} ({database})", pool, run)
            message = figures.message
            for what, job, extra in (
                (BARE, bare_transport_job, (False,)),
                (LOCKSTEP, bare_transport_job, (True,)),
                (AIOSMTPLIB, bare_aiosmtplib_job, ()),
            ):
                run = measured(
                    sink, args.recipients, job, message, recipients, sink.port, pool, *extra
                )
                figures.add(what, pool, run)
            figures.loads.append((f"after round {round_number}, pool {pool}", load_average()))


def profile(args, sink: Sink) -> None:
    """One SQLite send under cProfile (outside the figures): where the worker's time goes."""
    pool = max(args.pools)
    path = os.path.join(tempfile.gettempdir(), f"bench-deliver-{os.getpid()}.prof")
    with FRESH_DATABASES["sqlite"]() as url:
        issue_id = prepare(url, args.recipients, args.excerpts)
        run = measured(sink, args.recipients, engine_job, url, issue_id, sink.port, pool, path)
    print(f"\nProfile: SQLite, pool {pool}, {run.wall:.1f} s under cProfile ({path})")
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(path, stream=out).strip_dirs().sort_stats(order).print_stats(30)
        print(out.getvalue())


def report(args, databases: list[str], figures: Figures) -> None:
    size = len(figures.message)
    engine_runs = [
        run for (what, _), runs in figures.runs.items() if ENGINE in what for run in runs
    ]
    received = sum(run.sink.bytes for run in engine_runs) / sum(run.messages for run in engine_runs)
    print(
        f"\nMessage: {size / 1000:.1f} kB as rendered ({args.excerpts} excerpts, framings "
        f"included), {received / 1000:.1f} kB on average as the sink received the engine's; "
        f"{args.recipients:,} recipients; {args.rounds} round(s), each row the run with the "
        "median wall time"
    )
    if abs(size - MESSAGE_SIZE_GOAL) > MESSAGE_SIZE_GOAL / 10:
        print(f"Note: the message is not within 10 % of {MESSAGE_SIZE_GOAL // 1000} kB")
    print("Load average (1 / 5 / 15 min): " + "; ".join(f"{w} {v}" for w, v in figures.loads))
    print()
    header = [
        "what", "pool", "wall s", "msg/s (range)", "of bare", "worker CPU ms/msg",
        "sink CPU ms/msg", "peak RSS MB (before)", "target", "verdict",
    ]  # fmt: skip
    rows = []
    for pool in args.pools:
        bare = figures.typical(BARE, pool)
        for database in databases:
            run = figures.typical(f"{ENGINE} ({database})", pool)
            ratio = run.rate / bare.rate
            verdicts = [f"{'met' if ratio >= RATIO_TARGET else 'MISSED'} (ratio)"]
            targets = [f">= {RATIO_TARGET:.0%} of bare"]
            if database == "sqlite":
                targets.append(f"<= {SQLITE_TARGET_S:.0f} s")
                verdicts.append(f"{'met' if run.wall <= SQLITE_TARGET_S else 'MISSED'} (time)")
            what = f"`send_issue`, {DATABASE_NAMES[database]}"
            cells = _cells(pool, run, ratio, figures.runs[(f"{ENGINE} ({database})", pool)])
            rows.append([what, *cells, ", ".join(targets), ", ".join(verdicts)])
        for what in (BARE, LOCKSTEP, AIOSMTPLIB):
            run = figures.typical(what, pool)
            cells = _cells(pool, run, run.rate / bare.rate, figures.runs[(what, pool)])
            rows.append([f"baseline: {what}", *cells, "", ""])
    print_table(header, rows)
    for database in databases:
        for pool in args.pools:
            run = figures.typical(f"{ENGINE} ({database})", pool)
            name = DATABASE_NAMES[database]
            print(f"\nWhere the wall time of `send_issue` goes: {name}, pool {pool}")
            print_table(
                ["stage", "s", "share", "ms/msg"],
                [
                    [stage, f"{s:.2f}", f"{s / run.wall:.0%}", f"{s * 1000 / run.messages:.3f}"]
                    for stage, s in run.stages.items()
                ],
            )


def _cells(pool: int, run: Run, ratio: float, runs: list[Run]) -> list[str]:
    rates = sorted(r.rate for r in runs)
    spread = f" ({rates[0]:,.0f} to {rates[-1]:,.0f})" if len(rates) > 1 else ""
    return [
        str(pool),
        f"{run.wall:.2f}",
        f"{run.rate:,.0f}{spread}",
        f"{ratio:.0%}",
        f"{run.cpu * 1000 / run.messages:.2f}",
        f"{run.sink.cpu * 1000 / run.messages:.2f}",
        f"{run.peak_rss / 2**20:.0f} ({run.rss_before / 2**20:.0f})",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--pools", type=int, nargs="+", default=[4, 8], help="SMTP pool sizes")
    parser.add_argument(
        "--rounds", type=int, default=3, help="sends of each kind per pool (0: only --profile)"
    )
    parser.add_argument("--excerpts", type=int, default=6, help="1 to 12; 6 is about 50 kB")
    parser.add_argument(
        "--databases", nargs="+", default=["sqlite", "postgres"], choices=list(FRESH_DATABASES)
    )
    parser.add_argument("--profile", action="store_true", help="one SQLite send under cProfile")
    parser.add_argument("--quiet-load", type=float, help="first wait for this load average")
    parser.add_argument("--patience", type=float, default=900, help="seconds to wait for it")
    args = parser.parse_args()

    imported = code_state()
    wait_for_quiet(args.quiet_load, args.patience)
    print_machine()
    measured_code = code_state()
    databases = usable(args.databases)
    figures = Figures(loads=[("start", load_average())])
    with sink_process() as sink:
        measure(args, sink, databases, figures)
        print(f"Code (app/ and emails/): {measured_code}")
        if len({imported, measured_code, code_state()}) > 1:
            print(f"WARNING: the code changed during the run ({imported}, {code_state()})")
        if args.rounds:
            report(args, databases, figures)
        if args.profile:
            profile(args, sink)


if __name__ == "__main__":
    main()
