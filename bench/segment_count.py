"""Figure: counting a two-condition segment over 100,000 subscribers takes at most 200 ms.

    .venv/bin/python -m bench.segment_count [--rows 100000] [--runs 20] [--databases ...]

The segment is "Finance in Berlin" (department eq Finance AND location eq Berlin), saved
through the service as the API saves it. Each timed run is what GET /api/v1/segments/{id}
does for its counts: compile the stored rule, then count members and active members in one
query. Runs are warm (a few unmeasured runs first). The baseline is a plain
SELECT count(*) FROM subscriber over the same table.
"""

import argparse
import time
from collections.abc import Callable

from sqlalchemy import insert, text
from sqlmodel import Session

from app.accounts.principal import CLI_PRINCIPAL
from app.db import make_engine, unit_of_work, utcnow
from app.segments import service as segments
from app.segments.models import SegmentCreate
from app.segments.rules import Rule
from app.subscribers.models import Subscriber
from bench.harness import (
    FRESH_DATABASES,
    Person,
    median,
    people,
    percentile,
    print_machine,
    print_table,
    usable_databases,
)

TARGET_MS = 200.0
WARMUP_RUNS = 3
FINANCE_IN_BERLIN = {
    "all": [
        {"field": "department", "op": "eq", "value": "Finance"},
        {"field": "location", "op": "eq", "value": "Berlin"},
    ]
}


def load(url: str, crowd: list[Person]) -> int:
    """Store the people and the segment; returns the segment's id."""
    engine = make_engine(url)
    now = utcnow()
    rows = [
        {
            "email": p.email,
            "name": p.name,
            "attributes": p.attributes,
            "status": p.status,
            "created_at": now,
            "updated_at": now,
        }
        for p in crowd
    ]
    with unit_of_work(engine) as session:
        session.execute(insert(Subscriber), rows)
        segment = segments.create(
            session,
            data=SegmentCreate(
                name="Finance in Berlin", rule=Rule.model_validate(FINANCE_IN_BERLIN)
            ),
            actor=CLI_PRINCIPAL,
        )
        segment_id = segment.id
    # Production tables have planner statistics; a freshly loaded one has none until
    # autovacuum comes by, so gather them as it would.
    with engine.connect() as connection:
        connection.execute(text("ANALYZE"))
        connection.commit()
    engine.dispose()
    return segment_id


def time_runs(runs: int, measure: Callable[[], object]) -> list[float]:
    """Milliseconds of `runs` calls, after a few unmeasured ones."""
    for _ in range(WARMUP_RUNS):
        measure()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        measure()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def measure(url: str, crowd: list[Person], runs: int) -> tuple[list[float], list[float]]:
    segment_id = load(url, crowd)
    expected = sum(
        1
        for p in crowd
        if p.attributes["department"] == "Finance" and p.attributes["location"] == "Berlin"
    )
    engine = make_engine(url)
    with Session(engine) as session:
        segment = segments.get(session, segment_id=segment_id)

        def count_segment():
            return segments.count(session, clause=segments.membership_clause(segment))

        counted = count_segment()
        if counted.member_count != expected:
            raise SystemExit(f"counted {counted.member_count} members, expected {expected}")
        segment_ms = time_runs(runs, count_segment)
        baseline_ms = time_runs(
            runs, lambda: session.execute(text("SELECT count(*) FROM subscriber")).scalar()
        )
    engine.dispose()
    print(f"{engine.dialect.name}: {counted.member_count} members, {counted.active_count} active")
    return segment_ms, baseline_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--databases", default="sqlite,postgres")
    args = parser.parse_args()

    print_machine()
    crowd = people(args.rows)
    print(f"{args.rows:,} subscribers, {args.runs} warm runs each\n")
    table = []
    for database in usable_databases(args.databases.split(",")):
        with FRESH_DATABASES[database]() as url:
            segment_ms, baseline_ms = measure(url, crowd, args.runs)
        verdict = "met" if percentile(segment_ms, 0.95) <= TARGET_MS else "MISSED"
        table.append(
            [
                database,
                "segment count, 2 conditions",
                *_stats(segment_ms),
                f"{TARGET_MS:.0f}",
                verdict,
            ]
        )
        table.append([database, "SELECT count(*) FROM subscriber", *_stats(baseline_ms), "", ""])
    print()
    print_table(["database", "what", "median ms", "p95 ms", "target ms", "verdict"], table)


def _stats(samples: list[float]) -> list[str]:
    return [f"{median(samples):.2f}", f"{percentile(samples, 0.95):.2f}"]


if __name__ == "__main__":
    main()
