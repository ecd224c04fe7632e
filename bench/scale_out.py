"""The scale-out topology on one machine: two app processes and two delivery workers that
share PostgreSQL and the Redis broker, as README.md ("Scaling out") describes.

    make scale-out
    .venv/bin/python -m bench.scale_out [--ports 8001 8002] [--workers 2] [--host 127.0.0.1]

The database and the broker come from the environment, with local defaults:
DRUMBEAT_DATABASE_URL (postgresql+psycopg://postgres@127.0.0.1:5432/drumbeat, created when
missing) and DRUMBEAT_BROKER_URL (redis://127.0.0.1:6379/0). Every other DRUMBEAT_ setting
is passed on as it is (DRUMBEAT_MAIL_URL: maildir://./var/outbox unless set), except two
defaults that make the processes work as one: DRUMBEAT_SEND_TASKS_PER_ISSUE is the number
of workers, DRUMBEAT_BASE_URL the first app. It migrates, starts `drumbeat serve` on each
port and one `drumbeat worker` per worker, waits until the apps answer /healthz and the
workers wait on the queue, prints where they listen, and on Ctrl-C (or SIGTERM) stops all of
them gracefully: each app writes its queued tracking hits before it exits.

Not a benchmark (`make bench` does not run it): tests/delivery/test_scale_out.py starts the
same topology through `topology()` and sends an issue to 20,000 recipients through it.
"""

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis
from alembic import command
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from app.cli import alembic_config
from app.config import Settings

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/drumbeat"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"
DEFAULT_PORTS = (8001, 8002)
DEFAULT_WORKERS = 2
BIN = Path(sys.executable).parent
STOP_SECONDS = 20  # for a graceful stop, before the rest is killed


class TopologyError(RuntimeError):
    """A process did not start, or a service it needs is not there."""


@dataclass
class Process:
    role: str  # "app" or "worker"
    name: str  # where it listens, or what it is
    popen: subprocess.Popen
    log: Path | None
    killed: bool = False  # it did not stop within STOP_SECONDS of the SIGTERM

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        return self.popen.returncode

    def tail(self, size: int = 3000) -> str:
        if self.log is None or not self.log.exists():
            return ""
        return self.log.read_text(errors="replace")[-size:]


@dataclass
class Topology:
    database_url: str
    broker_url: str
    env: dict[str, str]
    apps: list[Process] = field(default_factory=list)
    workers: list[Process] = field(default_factory=list)

    @property
    def processes(self) -> list[Process]:
        return [*self.apps, *self.workers]

    @property
    def app_urls(self) -> list[str]:
        return [app.name for app in self.apps]

    def check_alive(self) -> None:
        for process in self.processes:
            if process.popen.poll() is not None:
                raise TopologyError(
                    f"{process.role} {process.name} (pid {process.pid}) exited with "
                    f"{process.returncode}\n{process.tail()}"
                )

    def describe(self) -> str:
        database = make_url(self.database_url).render_as_string(hide_password=True)
        lines = [f"Drumbeat scaled out on {database} and {self.broker_url}:"]
        for app in self.apps:
            lines.append(f"  app     {app.name:<28} pid {app.pid}  (studio /studio, docs /docs)")
        for worker in self.workers:
            lines.append(f"  worker  {worker.name:<28} pid {worker.pid}")
        mail = self.env.get("DRUMBEAT_MAIL_URL", "maildir://./var/outbox")
        tasks = self.env["DRUMBEAT_SEND_TASKS_PER_ISSUE"]
        lines.append(f"Each send is {tasks} queue tasks; mail goes to {mail}.")
        return "\n".join(lines)


def environment(
    base: Mapping[str, str],
    *,
    ports: tuple[int, ...] = DEFAULT_PORTS,
    workers: int = DEFAULT_WORKERS,
    host: str = "127.0.0.1",
) -> dict[str, str]:
    """The processes' environment: `base` with the topology's defaults where it sets none."""
    env = dict(base)
    env.setdefault("DRUMBEAT_DATABASE_URL", DEFAULT_DATABASE_URL)
    env.setdefault("DRUMBEAT_BROKER_URL", DEFAULT_BROKER_URL)
    env.setdefault("DRUMBEAT_SEND_TASKS_PER_ISSUE", str(workers))
    env.setdefault("DRUMBEAT_BASE_URL", f"http://{host}:{ports[0]}")
    # As in an activated virtualenv: `drumbeat worker` looks the taskiq command up.
    env["PATH"] = os.pathsep.join([str(BIN), env.get("PATH", "")])
    return env


@contextmanager
def topology(
    env: Mapping[str, str],
    *,
    ports: tuple[int, ...] = DEFAULT_PORTS,
    workers: int = DEFAULT_WORKERS,
    host: str = "127.0.0.1",
    log_dir: Path | None = None,
    timeout: float = 60,
) -> Iterator[Topology]:
    """Migrate, start an app per port and `workers` workers, wait until all are ready; stop
    them all (gracefully, then by force) on leaving. `env` is the processes' whole
    environment (see `environment`); with `log_dir` each one writes its own log there,
    without it they write to this process's terminal."""
    env = dict(env)
    running = Topology(env["DRUMBEAT_DATABASE_URL"], env["DRUMBEAT_BROKER_URL"], env)
    _check_broker(running.broker_url)
    _prepare_database(running.database_url)
    _ensure_secret_key(env)
    for port in ports:
        _check_port_free(host, port)
    waiting_before = listening(running.broker_url)
    drumbeat = str(BIN / "drumbeat")
    try:
        for port in ports:
            url = f"http://{host}:{port}"
            serve = [drumbeat, "serve", "--host", host, "--port", str(port)]
            running.apps.append(_start("app", url, serve, env, log_dir, f"app-{port}.log"))
        for number in range(1, workers + 1):
            name = f"drumbeat worker #{number}"
            log = f"worker-{number}.log"
            running.workers.append(_start("worker", name, [drumbeat, "worker"], env, log_dir, log))
        _wait_until_ready(running, host, ports, waiting_before + workers, timeout)
        yield running
    finally:
        stop(running.processes)


def stop(processes: list[Process], *, seconds: float = STOP_SECONDS) -> None:
    """SIGTERM to each (uvicorn drains the app, then exits with -SIGTERM; taskiq stops its
    sending process), a wait, then SIGKILL to each one's process group, for what did not
    stop or was left behind."""
    try:
        for process in processes:
            if process.popen.poll() is None:
                process.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + seconds
        for process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
    finally:  # also on a second Ctrl-C while waiting
        for process in processes:
            process.killed = process.popen.poll() is None
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.popen.wait()


def _start(
    role: str, name: str, argv: list[str], env: Mapping[str, str], log_dir: Path | None, log: str
) -> Process:
    # Its own session: a Ctrl-C in the terminal reaches only us, and we stop each process in
    # order; `drumbeat worker` becomes `taskiq worker`, which forks the process that sends,
    # so a leftover is killed with its group. A log is a file: a pipe nobody reads would
    # stall the process once full.
    path = log_dir / log if log_dir else None
    with open(path, "wb") if path else contextlib.nullcontext() as output:
        popen = subprocess.Popen(  # noqa: S603 (our own command)
            argv,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT if output else None,
            start_new_session=True,
        )
    return Process(role, name, popen, path)


def _wait_until_ready(
    running: Topology, host: str, ports: tuple[int, ...], listeners: int, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    pending = [f"http://{host}:{port}/healthz" for port in ports]
    while True:
        running.check_alive()
        pending = [url for url in pending if not _healthy(url)]
        waiting = listening(running.broker_url)
        if not pending and waiting >= listeners:
            return
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {p.role} {p.name}\n{p.tail()}" for p in running.processes)
            raise TopologyError(
                f"not ready after {timeout:.0f} s: apps not answering {pending}, "
                f"{waiting} of {listeners} workers waiting on the queue\n{tails}"
            )
        time.sleep(0.2)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def listening(broker_url: str) -> int:
    """How many processes wait on the queue (BRPOP) in the broker's database."""
    client = redis.Redis.from_url(broker_url, socket_timeout=2)
    try:
        db = client.connection_pool.connection_kwargs.get("db", 0)
        return sum(1 for c in client.client_list() if c["cmd"] == "brpop" and int(c["db"]) == db)
    finally:
        client.close()


def _check_broker(broker_url: str) -> None:
    client = redis.Redis.from_url(broker_url, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise TopologyError(f"Redis not reachable at {broker_url}: {exc}") from exc
    finally:
        client.close()


def _prepare_database(database_url: str) -> None:
    """PostgreSQL only (workers claim batches with SKIP LOCKED); the database is created when
    the server has none of that name, then migrated."""
    url = make_url(database_url)
    if not url.get_backend_name().startswith("postgresql"):
        raise TopologyError(f"the scale-out topology needs PostgreSQL, not {url.drivername}")
    probe = create_engine(url)
    try:
        with probe.connect():
            pass
    except OperationalError as exc:
        if "does not exist" not in str(exc):
            raise TopologyError(f"PostgreSQL not reachable at {url.host}: {exc}") from exc
        admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{url.database}"'))
        finally:
            admin.dispose()
        print(f"Created the database {url.database}.", flush=True)
    finally:
        probe.dispose()
    config = alembic_config(database_url)
    config.attributes["configure_logger"] = False
    command.upgrade(config, "heads")


def _ensure_secret_key(env: Mapping[str, str]) -> None:
    """Without DRUMBEAT_SECRET_KEY each process reads the key kept under the var dir, made by
    the first that needs one: made here, before any starts, so that none reads a key file
    another is still writing. Links signed by a worker must verify in every app."""
    if not env.get("DRUMBEAT_SECRET_KEY"):
        Settings(var_dir=Path(env.get("DRUMBEAT_VAR_DIR", "./var"))).resolved_secret_key()


def _check_port_free(host: str, port: int) -> None:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise TopologyError(f"{host}:{port} is in use: {exc}") from exc


def _interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ports", type=int, nargs="+", default=list(DEFAULT_PORTS))
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    ports = tuple(args.ports)
    # Ctrl-C, also where the shell started us with SIGINT ignored; SIGTERM stops us alike.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    env = environment(os.environ, ports=ports, workers=args.workers, host=args.host)
    try:
        with topology(env, ports=ports, workers=args.workers, host=args.host) as running:
            print(running.describe() + "\nCtrl-C stops them all.", flush=True)
            try:
                while True:
                    running.check_alive()
                    time.sleep(1)
            except KeyboardInterrupt:
                print(f"\nStopping {len(running.processes)} processes ...", flush=True)
    except TopologyError as exc:
        print(f"scale-out: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopped.", flush=True)
        return 130
    print("Stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
