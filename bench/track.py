"""Tracking hits under load: the open pixel and the click redirect with recording on, against
the same endpoints with recording off (privacy mode `off`), in the same run and the same
server process, and a raw ASGI app answering the same GIF as the anchor.

wrk on loopback, 64 connections, one uvicorn worker. Target: recording on sustains at least
70 % of the requests/s of recording off, with 0 events lost: after the server is stopped
gracefully (its lifespan drains the queue), the events in the database are counted against
the requests wrk completed (a few more events than requests is fine: requests in flight
when wrk stops are answered and recorded but not counted by wrk).

    .venv/bin/python -m bench.track [--seconds 10] [--rounds 3] [--databases sqlite postgres]
"""

import argparse
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx
from sqlalchemy import func, insert, select
from sqlmodel import Session

from app.accounts import service as accounts
from app.accounts.models import ApiKeyCreate, Scope
from app.accounts.principal import CLI_PRINCIPAL
from app.config import Settings
from app.db import make_engine
from app.issues import service as issues
from app.issues.models import ExcerptCreate, Issue, IssueCreate, IssueStatus
from app.rendering.links import link_check
from app.rendering.service import Renderer
from app.segments.models import Segment, SegmentKind, SegmentMember
from app.subscribers.models import Subscriber
from app.tracking.hits import PIXEL
from app.tracking.models import EngagementEvent, TrackedLink
from app.tracking.tokens import Purpose, TokenSigner
from bench.harness import FRESH_DATABASES, print_machine, print_table, usable_databases

ROOT = Path(__file__).resolve().parents[1]
CONNECTIONS = 64
THREADS = 2
READERS = 2_000
TARGET = 0.70
# The server under test on CPU 0, wrk on CPU 1 (PostgreSQL where the scheduler puts it), so
# the load generator does not take the server's core.
PIN_SERVER = ["taskset", "-c", "0"] if os.cpu_count() >= 2 and shutil.which("taskset") else []
PIN_LOAD = ["taskset", "-c", "1"] if PIN_SERVER else []
BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0"
)
# wrk's LuaJIT: each thread starts at its own place in the list of paths.
LUA = """
local paths = {}
for line in io.lines("%s") do paths[#paths + 1] = line end
local threads = 0
function setup(thread)
  thread:set("offset", threads * 997)
  threads = threads + 1
end
local index = 0
function request()
  index = index + 1
  return wrk.format("GET", paths[(index + offset) %% #paths + 1], {["User-Agent"] = "%s"})
end
"""


async def raw_app(scope, receive, send):
    """The anchor: the same GIF with the same header, and nothing else."""
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"image/gif"),
                (b"content-length", b"43"),
                (b"cache-control", b"no-store, max-age=0"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": PIXEL})


@dataclass
class Result:
    name: str
    requests: int
    seconds: float
    rate: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_us: float = 0.0  # server CPU (user + system) per request, the writer's included


def seed(url: str, secret: str, base_url: str) -> tuple[list[str], list[str], str]:
    """Readers, an issue with three links, and each reader's pixel and one click path."""
    engine = make_engine(url)
    with Session(engine) as session:
        session.execute(
            insert(Subscriber),
            [
                {"email": f"reader{i}@example.com", "name": f"Reader {i}", "attributes": {}}
                for i in range(READERS)
            ],
        )
        segment = Segment(name="All", kind=SegmentKind.static)
        session.add(segment)
        session.flush()
        ids = list(session.scalars(select(Subscriber.id).order_by(Subscriber.id)))
        session.execute(
            insert(SegmentMember), [{"segment_id": segment.id, "subscriber_id": i} for i in ids]
        )
        issue = issues.create(
            session,
            actor=CLI_PRINCIPAL,
            data=IssueCreate(
                title="Bench", planned_date=date(2026, 12, 3), segment_ids=[segment.id]
            ),
        )
        for n, link in enumerate(("https://wiki.example.com/a", "https://portal.example.com/b")):
            issues.add_excerpt(
                session,
                issue=issue,
                actor=CLI_PRINCIPAL,
                data=ExcerptCreate(
                    kind="info",
                    headline=f"Item {n}",
                    body=f"Read [more]({link}).",
                    cta_label="Status",
                    cta_url=f"https://status.example.com/{n}",
                ),
            )
        issue.status = IssueStatus.approved
        session.add(issue)
        _, api_key = accounts.create_api_key(
            session, data=ApiKeyCreate(name="bench", scopes=[Scope.admin]), actor=CLI_PRINCIPAL
        )
        session.commit()

        settings = Settings(database_url=url, secret_key=secret, base_url=base_url)
        renderer = Renderer(settings, TokenSigner(secret))
        issue = session.get(Issue, issue.id)
        compiled = renderer.compiled(session, issue=issue, segment_ids=(segment.id,))
        session.commit()
        factory = renderer.factory(compiled, issue_id=issue.id)
        signer = renderer.signer
        links = [
            f"/c/{signer.make(Purpose.click, issue.id, link.id, link_check(link.digest))}"
            for link in session.scalars(select(TrackedLink).order_by(TrackedLink.id))
        ]
        pixels, clicks = [], []
        for n, subscriber_id in enumerate(ids):
            reader = factory.tracking_values(subscriber_id)["reader"]
            pixels.append(f"/o/{reader}.gif")
            # One link per reader, so the load is not one big burst of machine clicks.
            clicks.append(f"{links[n % len(links)]}/{reader}")
    engine.dispose()
    return pixels, clicks, api_key


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(target: list[str], port: int, env: dict[str, str]) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        *target,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    server = subprocess.Popen(PIN_SERVER + command, cwd=ROOT, env=env)  # noqa: S603
    for _ in range(200):
        try:
            httpx.get(f"http://127.0.0.1:{port}/o/warmup.gif", timeout=1)
            return server
        except httpx.HTTPError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit(f"server {target} did not start")


def stop_server(server: subprocess.Popen) -> None:
    server.send_signal(signal.SIGINT)  # graceful: the lifespan drains the recorder
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.kill()
        raise SystemExit("server did not stop within 60 s") from None


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(name: str, port: int, paths: list[str], seconds: int, work: Path, pid: int) -> Result:
    paths_file = work / f"{name.replace(' ', '_')}.txt"
    paths_file.write_text("\n".join(paths) + "\n")
    script = work / f"{name.replace(' ', '_')}.lua"
    script.write_text(LUA % (paths_file, BROWSER))
    cpu_before = cpu_seconds(pid)
    out = subprocess.run(  # noqa: S603
        [
            *PIN_LOAD,
            shutil.which("wrk") or "wrk",
            f"-t{THREADS}",
            f"-c{CONNECTIONS}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    time.sleep(1.0)  # the writer's last flushes belong to this run
    cpu = cpu_seconds(pid) - cpu_before
    done = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    seconds_run = float(done.group(2)) * (60 if done.group(3) == "m" else 1)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    if socket_errors:
        print(f"  {name}: socket errors: {socket_errors.group(1)}")
    return Result(
        name=name,
        requests=int(done.group(1)),
        seconds=seconds_run,
        rate=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        p50_ms=_ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1)),
        p99_ms=_ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1)),
        errors=int(errors.group(1)) if errors else 0,
        cpu_us=cpu / int(done.group(1)) * 1e6,
    )


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(\w+)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def set_mode(port: int, api_key: str, mode: str) -> None:
    response = httpx.put(
        f"http://127.0.0.1:{port}/api/v1/settings/privacy",
        json={"mode": mode},
        headers={"Authorization": f"Bearer {api_key}"},
    )
    response.raise_for_status()
    time.sleep(0.5)


def count_events(url: str) -> dict[str, int]:
    engine = make_engine(url)
    with Session(engine) as session:
        rows = session.execute(
            select(EngagementEvent.kind, func.count()).group_by(EngagementEvent.kind)
        ).all()
    engine.dispose()
    return dict(rows)


def measure(database: str, url: str, seconds: int, rounds: int) -> list[list[str]]:
    secret = secrets.token_urlsafe(32)
    port, raw_port = free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="drumbeat-bench-track-") as directory:
        work = Path(directory)
        pixels, clicks, api_key = seed(url, secret, f"http://127.0.0.1:{port}")
        env = {
            **os.environ,
            "DRUMBEAT_DATABASE_URL": url,
            "DRUMBEAT_SECRET_KEY": secret,
            "DRUMBEAT_BASE_URL": f"http://127.0.0.1:{port}",
            "DRUMBEAT_VAR_DIR": str(work / "var"),
            "DRUMBEAT_MAIL_URL": f"maildir://{work / 'outbox'}",
            "DRUMBEAT_WEBHOOKS_ENABLED": "false",
            "DRUMBEAT_LOG_LEVEL": "warning",
        }
        results: dict[str, list[Result]] = {}
        raw = start_server(["bench.track:raw_app"], raw_port, env)
        server = start_server(["app.main:create_app", "--factory"], port, env)
        try:
            for _ in range(rounds):
                results.setdefault("raw", []).append(
                    run_wrk("raw ASGI GIF", raw_port, ["/o/x.gif"], seconds, work, raw.pid)
                )
                for endpoint, paths in (("pixel", pixels), ("click", clicks)):
                    set_mode(port, api_key, "off")
                    results.setdefault(f"{endpoint} off", []).append(
                        run_wrk(f"{endpoint} off", port, paths, seconds, work, server.pid)
                    )
                    set_mode(port, api_key, "aggregate")
                    results.setdefault(f"{endpoint} on", []).append(
                        run_wrk(f"{endpoint} on", port, paths, seconds, work, server.pid)
                    )
        finally:
            stop_server(server)
            stop_server(raw)
        stored = count_events(url)
    return table_rows(database, results, stored)


def table_rows(database: str, results: dict[str, list[Result]], stored: dict) -> list[list[str]]:
    rows = []
    raw = max(r.rate for r in results["raw"])
    raw_cpu = min(r.cpu_us for r in results["raw"])
    for endpoint, kind in (("pixel", "open"), ("click", "click")):
        off, on = results[f"{endpoint} off"], results[f"{endpoint} on"]
        requests_on = sum(r.requests for r in on)
        events = stored.get(kind, 0)
        ratios = [a.rate / b.rate for a, b in zip(on, off, strict=True)]
        cpu_off, cpu_on = min(r.cpu_us for r in off), min(r.cpu_us for r in on)
        rows.append(
            [
                database,
                endpoint,
                ", ".join(f"{r.rate:,.0f}" for r in off),
                ", ".join(f"{r.rate:,.0f}" for r in on),
                ", ".join(f"{x:.0%}" for x in ratios),
                f"{cpu_off:.0f} / {cpu_on:.0f}",
                f"{cpu_off / cpu_on:.0%}",
                f"{max(r.rate for r in on) / raw:.0%}",
                f"{max(r.p99_ms for r in on):.1f}",
                f"{requests_on:,}",
                f"{events:,}",
                f"{max(0, requests_on - events):,}",
                f"{sum(r.errors for r in [*on, *off]):,}",
            ]
        )
    raw_rates = ", ".join(f"{r.rate:,.0f}" for r in results["raw"])
    rows.append(
        [database, "raw ASGI GIF", "", raw_rates, "", f"{raw_cpu:.0f}", "", "100%"] + [""] * 5
    )
    return rows


def in_process(url: str, rounds: int, hits: int = 6_000) -> list[list[str]]:
    """CPU time per hit with the app called in-process (no wrk, no sockets, no other
    thread): less exposed to a busy machine than requests/s. The writer's flushes run
    in the same thread every 500 hits, so their cost is counted."""
    import asyncio

    from app.accounts.principal import SYSTEM_PRINCIPAL
    from app.db import unit_of_work
    from app.main import create_app
    from app.tracking import service as tracking
    from app.tracking.models import PrivacyMode

    secret = secrets.token_urlsafe(32)
    pixels, clicks, _ = seed(url, secret, "http://bench")
    with tempfile.TemporaryDirectory(prefix="drumbeat-bench-track-") as directory:
        settings = Settings(
            database_url=url,
            secret_key=secret,
            var_dir=Path(directory),
            webhooks_enabled=False,
            log_level="warning",
        )
        app = create_app(settings)
        recorder = app.state.recorder
        agent = [(b"user-agent", BROWSER.encode())]

        async def call(path: str) -> None:
            scope = {
                "type": "http",
                "method": "GET",
                "path": path,
                "raw_path": path.encode(),
                "query_string": b"",
                "headers": agent,
                "client": ("127.0.0.1", 40000),
                "server": ("127.0.0.1", 8000),
                "scheme": "http",
                "http_version": "1.1",
                "root_path": "",
            }

            async def receive():
                return {"type": "http.request", "body": b"", "more_body": False}

            async def send(_message):
                pass

            await app(scope, receive, send)

        def switch(mode: PrivacyMode) -> None:
            # In the database: the writer re-reads the mode at every cycle, so setting only
            # recorder.mode would be undone within a second (and "off" would record).
            with unit_of_work(app.state.engine) as session:
                tracking.change_privacy(
                    session, mode=mode, legal_basis="benchmark", actor=SYSTEM_PRINCIPAL
                )
            recorder.drain()
            recorder.mode = mode

        async def cpu_per_hit(paths: list[str], mode: PrivacyMode) -> float:
            switch(mode)
            start = time.process_time()
            for index in range(hits):
                await call(paths[index % len(paths)])
                if index % 500 == 499:
                    recorder.flush_once()
            recorder.drain()
            return (time.process_time() - start) / hits * 1e6

        async def measure_all() -> dict[str, list[float]]:
            found: dict[str, list[float]] = {}
            for _ in range(rounds):
                for name, paths in (("pixel", pixels), ("click", clicks)):
                    for mode in (PrivacyMode.off, PrivacyMode.aggregate):
                        found.setdefault(f"{name} {mode.value}", []).append(
                            await cpu_per_hit(paths, mode)
                        )
            return found

        found = asyncio.run(measure_all())
        app.state.engine.dispose()
    rows = []
    for name in ("pixel", "click"):
        off, on = min(found[f"{name} off"]), min(found[f"{name} aggregate"])
        rows.append([name, f"{off:.0f}", f"{on:.0f}", f"{on - off:.0f}", f"{off / on:.0%}"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgres"])
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install -y wrk)")
    print_machine()
    print(
        f"wrk -t{THREADS} -c{CONNECTIONS} -d{args.seconds}s, {args.rounds} rounds, "
        f"{READERS:,} readers, one uvicorn worker\n"
    )
    rows, cpu_rows = [], []
    for database in usable_databases(args.databases):
        with FRESH_DATABASES[database]() as url:
            cpu_rows += [[database, *row] for row in in_process(url, args.rounds)]
        with FRESH_DATABASES[database]() as url:
            rows += measure(database, url, args.seconds, args.rounds)
    print("In-process, CPU per hit (best of the rounds):\n")
    print_table(["database", "endpoint", "off us", "on us", "recording us", "off/on"], cpu_rows)
    print("\nOver HTTP:\n")
    print_table(
        [
            "database",
            "endpoint",
            "off req/s",
            "on req/s",
            "on/off",
            "CPU us/req off / on",
            "off/on CPU",
            "on/raw",
            "on p99 ms",
            "requests (on)",
            "events",
            "lost",
            "non-2xx/3xx",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
