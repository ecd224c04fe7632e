"""Figure: importing 100,000 subscribers from CSV takes at most 10 s on SQLite.

    .venv/bin/python -m bench.import_subscribers [--rows 100000] [--runs 3] [--databases ...]

Each run imports into a fresh, migrated database and is timed from the first byte read to
the commit. Two baselines from the same process give the figure its context: parsing and
validating the rows without any database, and a raw DBAPI `executemany` of the same rows.
"""

import argparse
import csv
import io
import json
import time
from collections.abc import Callable

from sqlalchemy import func, select, text

from app.accounts.principal import CLI_PRINCIPAL
from app.db import make_engine, unit_of_work, utcnow
from app.subscribers.importer import import_csv
from app.subscribers.models import Subscriber
from app.subscribers.normalize import normalize_email
from bench.harness import (
    FRESH_DATABASES,
    median,
    people,
    people_csv,
    print_machine,
    print_table,
    usable_databases,
)

TARGET_SECONDS = {"sqlite": 10.0}
SQLITE_INSERT = (
    "INSERT INTO subscriber (email, name, attributes, status, created_at, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
POSTGRES_INSERT = (
    "INSERT INTO subscriber (email, name, attributes, status, created_at, updated_at) "
    "VALUES (%s, %s, %s, %s, %s, %s)"
)


def time_import(url: str, data: bytes, rows: int) -> float:
    engine = make_engine(url)
    with engine.connect() as connection:  # connect outside the clock
        connection.execute(text("SELECT 1"))
    started = time.perf_counter()
    with unit_of_work(engine) as session:
        report = import_csv(session, binary=io.BytesIO(data), actor=CLI_PRINCIPAL)
    elapsed = time.perf_counter() - started
    with unit_of_work(engine) as session:
        stored = session.scalar(select(func.count()).select_from(Subscriber))
    engine.dispose()
    if (report.created, report.rejected_count, stored) != (rows, 0, rows):
        raise SystemExit(f"import went wrong: {report.created=} {report.rejected_count=} {stored=}")
    return elapsed


def parse_and_validate(data: bytes) -> list[tuple[str, str, str, dict[str, str]]]:
    """The least any import must do: read the CSV and validate every address."""
    reader = csv.reader(io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline=""))
    header = next(reader)
    parsed = []
    for cells in reader:
        values = dict(zip(header, cells, strict=True))
        email = normalize_email(values.pop("email"))
        name, status = values.pop("name"), values.pop("status")
        parsed.append((email, name, status, {k: v for k, v in values.items() if v}))
    return parsed


def time_raw_insert(url: str, parsed: list[tuple[str, str, str, dict[str, str]]]) -> float:
    """A bare DBAPI executemany of the parsed rows: the floor for writing them."""
    engine = make_engine(url)
    is_sqlite = engine.dialect.name == "sqlite"
    now = utcnow()
    stamp = now.replace(tzinfo=None).isoformat(sep=" ") if is_sqlite else now
    statement = SQLITE_INSERT if is_sqlite else POSTGRES_INSERT
    params = [(e, n, json.dumps(a), s, stamp, stamp) for e, n, s, a in parsed]
    connection = engine.raw_connection()
    try:
        started = time.perf_counter()
        cursor = connection.cursor()
        cursor.executemany(statement, params)
        connection.commit()
        elapsed = time.perf_counter() - started
    finally:
        connection.close()
        engine.dispose()
    return elapsed


def timed(runs: int, measure: Callable[[], float]) -> list[float]:
    return [measure() for _ in range(runs)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3, help="fresh database each")
    parser.add_argument("--databases", default="sqlite,postgres")
    args = parser.parse_args()

    print_machine()
    data = people_csv(people(args.rows))
    print(f"CSV: {args.rows:,} rows, {len(data) / 1e6:.1f} MB, {args.runs} runs each\n")

    def parse_once() -> float:
        started = time.perf_counter()
        parse_and_validate(data)
        return time.perf_counter() - started

    parse_times = timed(args.runs, parse_once)
    parsed = parse_and_validate(data)
    table = [_row("(none)", "parse + validate emails, no database", parse_times, None)]
    for database in usable_databases(args.databases.split(",")):
        fresh = FRESH_DATABASES[database]

        def import_once(fresh=fresh) -> float:
            with fresh() as url:
                return time_import(url, data, args.rows)

        def raw_once(fresh=fresh) -> float:
            with fresh() as url:
                return time_raw_insert(url, parsed)

        target = TARGET_SECONDS.get(database)
        table.append(
            _row(database, "import_csv, commit included", timed(args.runs, import_once), target)
        )
        table.append(_row(database, "raw executemany insert", timed(args.runs, raw_once), None))
    print_table(["database", "what", "median s", "min s", "target s", "verdict"], table)


def _row(database: str, what: str, samples: list[float], target: float | None) -> list[str]:
    verdict = "" if target is None else ("met" if median(samples) <= target else "MISSED")
    limit = "" if target is None else f"{target:.1f}"
    return [database, what, f"{median(samples):.2f}", f"{min(samples):.2f}", limit, verdict]


if __name__ == "__main__":
    main()
