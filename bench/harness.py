"""What every benchmark needs: fresh migrated databases, realistic people, timing, the machine."""

import csv
import io
import math
import os
import platform
import random
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.cli import alembic_config
from app.demo.seed import DEPARTMENTS, FIRST_NAMES, ITSM_ROLES, LAST_NAMES, LOCATIONS

POSTGRES_URL = os.environ.get(
    "DRUMBEAT_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
ROLES = ["management", "head_of_department", "team_lead", "employee"]
ATTRIBUTE_COLUMNS = [
    "department",
    "role",
    "location",
    "language",
    "budget_holder",
    "key_user",
    "itsm_role",
]


@dataclass(frozen=True)
class Person:
    email: str
    name: str
    status: str
    attributes: dict[str, str]


def people(count: int, *, seed: int = 2026) -> list[Person]:
    """The same `count` believable people for the same seed (cf. app/demo/seed.py)."""
    rng = random.Random(seed)
    found = []
    for index in range(count):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        role = rng.choices(ROLES, weights=[4, 10, 20, 66])[0]
        attributes = {
            "department": rng.choice(DEPARTMENTS),
            "role": role,
            "location": rng.choice(LOCATIONS),
            "language": rng.choices(["en", "de", "sv"], weights=[5, 4, 1])[0],
            "budget_holder": "yes" if role in ("management", "head_of_department") else "no",
            "key_user": "yes" if rng.random() < 0.12 else "no",
        }
        if attributes["department"] == "IT" or rng.random() < 0.05:
            attributes["itsm_role"] = rng.choice(ITSM_ROLES)
        status = rng.choices(["active", "unsubscribed", "bounced", "blocked"], [92, 5, 2, 1])[0]
        email = f"{first}.{last}.{index}@example.com".lower()
        found.append(Person(email, f"{first} {last}", status, attributes))
    return found


def people_csv(crowd: list[Person]) -> bytes:
    """The CSV a HR export would give: email, name, status, then one column per attribute."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["email", "name", "status", *ATTRIBUTE_COLUMNS])
    for person in crowd:
        cells = [person.attributes.get(column, "") for column in ATTRIBUTE_COLUMNS]
        writer.writerow([person.email, person.name, person.status, *cells])
    return buffer.getvalue().encode()


def migrate(url: str) -> None:
    config = alembic_config(url)
    config.attributes["configure_logger"] = False
    command.upgrade(config, "heads")


@contextmanager
def fresh_sqlite() -> Iterator[str]:
    """A migrated SQLite file in a temporary directory, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="drumbeat-bench-") as directory:
        url = f"sqlite:///{Path(directory) / 'bench.db'}"
        migrate(url)
        yield url


def postgres_unreachable() -> str | None:
    """Why PostgreSQL cannot be used, or None when it can."""
    try:
        probe = create_engine(POSTGRES_URL)
        with probe.connect() as connection:
            connection.execute(text("SELECT 1"))
        probe.dispose()
    except Exception as exc:
        return f"PostgreSQL not reachable at {make_url(POSTGRES_URL).host}: {exc}"
    return None


@contextmanager
def fresh_postgres() -> Iterator[str]:
    """A migrated database of its own on the PostgreSQL server, dropped afterwards."""
    name = f"drumbeat_bench_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
        migrate(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


FRESH_DATABASES = {"sqlite": fresh_sqlite, "postgres": fresh_postgres}


def usable_databases(wanted: list[str]) -> list[str]:
    """The wanted databases that can run here; says why PostgreSQL is skipped."""
    if "postgres" in wanted:
        reason = postgres_unreachable()
        if reason:
            print(f"Skipping PostgreSQL: {reason}")
            return [db for db in wanted if db != "postgres"]
    return wanted


def percentile(samples: list[float], fraction: float) -> float:
    """Nearest-rank percentile: a value that was actually measured."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    described = {
        "CPU": cpu,
        "cores": str(os.cpu_count()),
        "Python": platform.python_version(),
        "SQLite": sqlite3.sqlite_version,
    }
    described["code"] = code_version()
    if postgres_unreachable() is None:
        probe = create_engine(POSTGRES_URL)
        with probe.connect() as connection:
            described["PostgreSQL"] = connection.execute(text("SHOW server_version")).scalar()
        probe.dispose()
    else:
        described["PostgreSQL"] = "not reachable"
    return described


def code_version() -> str:
    """The commit measured, and whether app/ differed from it."""
    git = shutil.which("git")
    if git is None:
        return "unknown"
    root = Path(__file__).resolve().parents[1]
    run = {"cwd": root, "capture_output": True, "text": True, "check": False}
    commit = subprocess.run([git, "rev-parse", "--short", "HEAD"], **run).stdout.strip()  # noqa: S603
    changed = subprocess.run([git, "status", "--porcelain", "app"], **run).stdout.split("\n")  # noqa: S603
    changed = [line[3:] for line in changed if line.strip()]
    return f"{commit} + uncommitted changes in {', '.join(changed)}" if changed else commit


def print_machine() -> None:
    for key, value in machine().items():
        print(f"{key + ':':<12}{value}")
    print()


def print_table(header: list[str], rows: list[list[str]]) -> None:
    """A Markdown table, so the output can be pasted into docs/benchmarks.md."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
