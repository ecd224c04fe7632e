"""Figure: every studio page answers in at most 100 ms server time (median) and 250 ms
(p95) on SQLite, with 100,000 subscribers, 5,000 news items and 50 sent issues stored.

    .venv/bin/python -m bench.studio_pages [--runs 30] [--subscribers 100000] [--keep DIR]

The database is built as production builds it: subscribers and the seeds' target groups
(app.demo.seed), news items through the intake service, issues through the issue service
with excerpts from those items, each sent issue's audience frozen by the delivery service
(one delivery row per active member of its segments) and then marked sent; opens, clicks
and "useful?" votes stored as the recorder stores them, raw events past the retention
period folded as the app's hourly job folds them. Then one draft issue in progress.

Every GET route under /studio is requested in-process (the ASGI app called through
httpx's ASGITransport: no sockets, one request at a time) as a signed-in admin, with its
path parameters filled from the data; routes that cannot be filled are listed, not
skipped silently. Server time is the time from the request entering the app to the last
byte of the response. Baseline in the same run: GET /healthz through the same client.
The pages that show engagement are measured twice: as they are, and "after new events",
each request preceded by a batch of hits for the newest sent issue (its stored counts out
of date, as they are while readers' hits come in). The studio's views of the reports may
run STUDIO_LAG (30 s) behind new hits, so they count that issue's raw events again only when
its stored counts are older than that; both measurements are held to the target. The view
that recounts (at most one per lag and page while hits come in) is measured apart, each
request preceded by new events and stored counts older than the lag, and written down as
it is.
"""

import argparse
import asyncio
import hashlib
import json
import random
import re
import secrets
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
from fastapi.routing import iter_route_contexts
from sqlalchemy import func, insert, select, text, update
from sqlmodel import Session

from app.accounts import service as accounts
from app.accounts.models import Role
from app.accounts.principal import SYSTEM_PRINCIPAL
from app.analytics import retention
from app.analytics.models import EngagementSummary
from app.analytics.service import STUDIO_LAG
from app.analytics.tallies import events_changed
from app.config import Settings
from app.db import make_engine, unit_of_work, utcnow
from app.delivery import service as delivery
from app.delivery.models import Delivery, DeliveryState, RunState, SendRun
from app.demo import seed as demo_seed
from app.demo.newsroom import NEWS
from app.deps import SESSION_COOKIE
from app.issues import service as issues
from app.issues.models import Excerpt, ExcerptCreate, Issue, IssueCreate, IssueStatus
from app.news import intake
from app.news.models import NewsItem, NewsItemCreate
from app.news.service import DEFAULT_STALE_AFTER_DAYS
from app.segments.models import Segment
from app.subscribers.models import Subscriber
from app.tracking.models import EngagementEvent, ExcerptFeedback, TrackedLink
from bench.harness import fresh_sqlite, median, migrate, percentile, print_machine, print_table

MEDIAN_TARGET_MS = 100.0
P95_TARGET_MS = 250.0
NEWS_ITEMS = 5_000
SENT_ISSUES = 50
EXCERPTS_PER_ISSUE = 10
DOWNLOAD_RUNS = 3  # CSV exports: files, timed for information, not held to the page target
OPEN_SHARE, CLICK_SHARE, VOTE_SHARE = 0.35, 0.08, 0.01


def build(url: str, subscribers: int) -> dict[str, int]:
    """The database as described in the module docstring; returns ids for path params."""
    rng = random.Random(2026)
    engine = make_engine(url)
    started = time.perf_counter()
    with unit_of_work(engine) as session:
        demo_seed.load(session, subscriber_count=subscribers)
    segment_ids = dict(Session(engine).execute(select(Segment.name, Segment.id)).all())
    print(f"  subscribers and segments: {time.perf_counter() - started:.0f} s")

    started = time.perf_counter()
    now = datetime.now(UTC)
    with unit_of_work(engine) as session:
        for index in range(NEWS_ITEMS):
            source, _, kind, theme, title, body, _, audience = NEWS[index % len(NEWS)]
            intake.receive(
                session,
                actor=SYSTEM_PRINCIPAL,
                stale_after_days=DEFAULT_STALE_AFTER_DAYS,
                data=NewsItemCreate(
                    source=source,
                    external_id=f"bench-{index}",
                    kind=kind,
                    theme=theme,
                    title=f"{title} ({index})",
                    body=body,
                    occurred_at=now - timedelta(hours=index * 3.5),  # two years back
                    suggested_segments=[a for a in audience if a in segment_ids],
                    flash=False,
                ),
            )
    print(f"  {NEWS_ITEMS:,} news items: {time.perf_counter() - started:.0f} s")

    started = time.perf_counter()
    all_items = list(Session(engine).scalars(select(NewsItem.id).order_by(NewsItem.id)))
    groups = list(segment_ids.values())
    for number in range(SENT_ISSUES):
        planned = date.today() - timedelta(days=14 * (SENT_ISSUES - number))
        sent_at = datetime.combine(planned, datetime.min.time(), UTC) + timedelta(hours=9)
        issue_id = _issue(engine, rng, planned, all_items, rng.sample(groups, 2))
        _send(engine, rng, issue_id, sent_at)
    print(f"  {SENT_ISSUES} sent issues: {time.perf_counter() - started:.0f} s")
    # As the app's hourly job does: raw events past the retention period are folded.
    folded = retention.fold(
        engine, retention_days=Settings.model_fields["tracking_retention_days"].default
    )
    print(f"  retention fold: {len(folded.issue_ids)} issues, {folded.events_deleted:,} raw events")
    draft = _issue(engine, rng, date.today() + timedelta(days=7), all_items, groups[:3])
    with engine.connect() as connection:
        connection.execute(text("ANALYZE"))
        connection.commit()
    with Session(engine) as session:
        ids = {
            "issue_id": draft,
            "sent_issue_id": session.scalar(
                select(Issue.id).where(Issue.status == IssueStatus.sent).order_by(Issue.id.desc())
            ),
            "subscriber_id": session.scalar(select(Subscriber.id).order_by(Subscriber.id)),
            "segment_id": segment_ids.get("Finance in Berlin", groups[0]),
            "news_item_id": all_items[-1],
            "excerpt_id": session.scalar(select(Excerpt.id).where(Excerpt.issue_id == draft)),
        }
        counts = {
            "subscribers": session.scalar(select(func.count()).select_from(Subscriber)),
            "news items": session.scalar(select(func.count()).select_from(NewsItem)),
            "sent issues": session.scalar(
                select(func.count()).select_from(Issue).where(Issue.status == IssueStatus.sent)
            ),
            "deliveries": session.scalar(select(func.count()).select_from(Delivery)),
            "events": session.scalar(select(func.count()).select_from(EngagementEvent)),
        }
    print("  stored: " + ", ".join(f"{v:,} {k}" for k, v in counts.items()))
    engine.dispose()
    return ids


def _issue(engine, rng, planned: date, items: list[int], segment_ids: list[int]) -> int:
    with unit_of_work(engine) as session:
        issue = issues.create(
            session,
            actor=SYSTEM_PRINCIPAL,
            data=IssueCreate(
                title=f"IT news {planned:%d %b %Y}", planned_date=planned, segment_ids=segment_ids
            ),
        )
        for item_id in rng.sample(items, EXCERPTS_PER_ISSUE):
            issues.add_excerpt(
                session,
                issue=issue,
                data=ExcerptCreate(news_item_ids=[item_id]),
                actor=SYSTEM_PRINCIPAL,
            )
        return issue.id


def _send(engine, rng, issue_id: int, sent_at: datetime) -> None:
    """Freeze the audience through the delivery service, then settle it as a send would:
    a few failures, the rest sent; opens, clicks and votes as the recorder stores them."""
    with unit_of_work(engine) as session:
        issue = session.get(Issue, issue_id)
        issue.status = IssueStatus.approved
        run = delivery.start(session, issue=issue, actor=SYSTEM_PRINCIPAL)
        delivery.freeze_audience(session, run=run)
        session.execute(
            update(Delivery)
            .where(Delivery.issue_id == issue_id)
            .values(state=DeliveryState.sent, sent_at=sent_at, attempts=1, updated_at=sent_at)
        )
        failed = list(
            session.scalars(select(Delivery.id).where(Delivery.issue_id == issue_id).limit(40))
        )
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(failed))
            .values(state=DeliveryState.failed, sent_at=None, last_code=550)
        )
        session.execute(
            update(SendRun)
            .where(SendRun.id == run.id)
            .values(state=RunState.done, finished_at=sent_at + timedelta(minutes=20))
        )
        session.execute(update(Issue).where(Issue.id == issue_id).values(status=IssueStatus.sent))
        excerpts = list(session.scalars(select(Excerpt.id).where(Excerpt.issue_id == issue_id)))
        links = []
        for position, excerpt_id in enumerate(excerpts):
            url = f"https://wiki.example.com/issue/{issue_id}/{position}"
            digest = hashlib.sha256(f"{excerpt_id}|{url}".encode()).hexdigest()
            links.append(
                {
                    "issue_id": issue_id,
                    "excerpt_id": excerpt_id,
                    "url": url,
                    "label": "Read more",
                    "position": position,
                    "digest": digest,
                    "created_at": sent_at,
                }
            )
        session.execute(insert(TrackedLink), links)
        link_rows = list(
            session.execute(
                select(TrackedLink.id, TrackedLink.excerpt_id).where(
                    TrackedLink.issue_id == issue_id
                )
            )
        )
        readers = list(
            session.execute(
                select(Delivery.subscriber_id, Delivery.variant).where(
                    Delivery.issue_id == issue_id, Delivery.state == DeliveryState.sent
                )
            )
        )
        events, votes = [], []
        for subscriber_id, variant in readers:
            if rng.random() >= OPEN_SHARE:
                continue
            reader = hashlib.sha256(f"{issue_id}:{subscriber_id}".encode()).hexdigest()[:16]
            opened = sent_at + timedelta(minutes=rng.randint(1, 5_000))
            machine = rng.random() < 0.2
            events.append(_event(issue_id, "open", None, None, variant, reader, machine, opened))
            if rng.random() < CLICK_SHARE / OPEN_SHARE:
                link_id, excerpt_id = rng.choice(link_rows)
                clicked = opened + timedelta(seconds=rng.randint(5, 600))
                events.append(
                    _event(issue_id, "click", link_id, excerpt_id, variant, reader, False, clicked)
                )
            if rng.random() < VOTE_SHARE / OPEN_SHARE:
                votes.append(
                    {
                        "issue_id": issue_id,
                        "excerpt_id": rng.choice(excerpts),
                        "useful": rng.random() < 0.8,
                        "comment": "",
                        "created_at": opened,
                    }
                )
        session.execute(insert(EngagementEvent), events)
        events_changed(session, [issue_id])  # as the recorder announces its batches
        if votes:
            session.execute(insert(ExcerptFeedback), votes)


def _event(issue_id, kind, link_id, excerpt_id, variant, reader, machine, at) -> dict:
    return {
        "issue_id": issue_id,
        "kind": kind,
        "link_id": link_id,
        "excerpt_id": excerpt_id,
        "variant": variant,
        "reader": reader,
        "subscriber_id": None,
        "machine": machine,
        "machine_reason": "apple_mpp" if machine else "",
        "occurred_at": at,
    }


# Path parameters of studio routes, by name; a route with any other parameter is reported.
def studio_pages(app, ids: dict[str, int]) -> tuple[list[tuple[str, str]], list[str]]:
    pages, unfilled = [], []
    for route in iter_route_contexts(app.routes):
        path = route.path
        if not path.startswith("/studio") or "GET" not in (route.methods or ()):
            continue
        names = re.findall(r"{(\w+)(?::\w+)?}", path)
        if any(name not in ids for name in names):
            unfilled.append(path)
            continue
        filled = path
        for name in names:
            # An issue's sending and analytics pages are about a sent issue.
            value = ids["sent_issue_id"] if name == "issue_id" and _about_sent(path) else ids[name]
            filled = re.sub(r"\{" + name + r"(?::\w+)?\}", str(value), filled)
        pages.append((path, filled))
    return pages, unfilled


def _about_sent(path: str) -> bool:
    return any(word in path for word in ("sending", "analytics", "stats"))


def sign_in(engine) -> str:
    """A signed-in admin's session token, as the sign-in page gives it."""
    password, email = secrets.token_urlsafe(16), f"bench-{secrets.token_hex(4)}@example.com"
    with unit_of_work(engine) as session:
        accounts.create_user(
            session, email=email, role=Role.admin, password=password,
            actor=SYSTEM_PRINCIPAL,
        )  # fmt: skip
        _user, token = accounts.log_in(
            session,
            email=email,
            password=password,
            client_address="127.0.0.1",
            max_attempts=5,
            max_age_seconds=3600,
        )
    return token


# Pages that show engagement: measured again as they answer while readers' hits come in.
AFTER_NEW_EVENTS = " (after new events)"


# The studio's reports may run STUDIO_LAG behind new hits, so while hits come in a page
# recounts at most once per lag; that view is measured apart, written down, not averaged away.
RECOUNTING = f" (recounting, at most once per {STUDIO_LAG.seconds} s)"


def with_new_events(pages: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The analytics pages and the dashboard (the last issue's results), each request
    preceded by a recorder's batch of the newest sent issue, so the stored counts of that
    issue are out of date: a page counts its raw events again when the stored counts are
    older than the lag (RECOUNTING: at every request)."""
    shown = [(route, path) for route, path in pages if route == "/studio" or "analytics" in route]
    shown = [(route, path) for route, path in shown if ".csv" not in route]
    return [(route + AFTER_NEW_EVENTS, path) for route, path in shown] + [
        (route + RECOUNTING, path) for route, path in shown
    ]


def announce_events(engine, issue_id: int, *, past_the_lag: bool = False) -> None:
    with unit_of_work(engine) as session:
        events_changed(session, [issue_id])
        if past_the_lag:
            counted_at = utcnow() - STUDIO_LAG - timedelta(seconds=1)
            session.execute(
                update(EngagementSummary)
                .where(EngagementSummary.issue_id == issue_id)
                .values(counted_at=counted_at)
            )


async def measure(
    app, pages, cookie: str, runs: int, *, sent_issue_id: int
) -> tuple[list[list[str]], list[str]]:
    rows, failures = [], []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://bench", cookies={SESSION_COOKIE: cookie}
    ) as client:
        for route, path in [("/healthz (baseline)", "/healthz"), *pages]:
            samples = []
            download = route.endswith(".csv")
            warmups, count = (1, DOWNLOAD_RUNS) if download else (3, runs)
            for attempt in range(count + warmups):  # warm-up requests are not counted
                if route.endswith((AFTER_NEW_EVENTS, RECOUNTING)):  # not timed
                    recount = route.endswith(RECOUNTING)
                    announce_events(app.state.engine, sent_issue_id, past_the_lag=recount)
                started = time.perf_counter()
                response = await client.get(path)
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code != 200:
                    failures.append(f"{path}: {response.status_code}")
                    break
                if attempt >= warmups:
                    samples.append(elapsed)
            if not samples:
                continue
            mid, p95 = median(samples), percentile(samples, 0.95)
            if route.startswith("/healthz"):
                met = ""
            elif download:
                met = "download"  # a file, not a page: written down, not held to the target
            elif route.endswith(RECOUNTING):
                met = "per lag"  # one view per 30 s while hits come in: written down apart
            else:
                met = "met" if mid <= MEDIAN_TARGET_MS and p95 <= P95_TARGET_MS else "MISSED"
            size = len(response.content)
            rows.append([route, f"{mid:.1f}", f"{p95:.1f}", f"{size / 1024:.0f} kB", met])
    return rows, failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument(
        "--keep",
        type=Path,
        help="build the database into this file once and reuse it on later runs "
        "(building takes about ten minutes)",
    )
    args = parser.parse_args()
    print_machine()
    with ExitStack() as stack:
        directory = stack.enter_context(tempfile.TemporaryDirectory())
        if args.keep and args.keep.exists():
            url = f"sqlite:///{args.keep}"
            migrate(url)  # migrations added since it was built (indexes) apply to it too
            ids = json.loads(args.keep.with_suffix(".ids.json").read_text())
            print(f"Reusing {args.keep}")
        else:
            if args.keep:
                url = f"sqlite:///{args.keep}"
                migrate(url)
            else:
                url = stack.enter_context(fresh_sqlite())
            print(f"Building the database ({args.subscribers:,} subscribers) ...")
            ids = build(url, args.subscribers)
            if args.keep:
                args.keep.with_suffix(".ids.json").write_text(json.dumps(ids))
        from app.main import create_app

        settings = Settings(
            database_url=url,
            secret_key=secrets.token_urlsafe(32),
            var_dir=Path(directory),
            mail_url=f"maildir://{Path(directory) / 'outbox'}",
            webhooks_enabled=False,
            log_level="warning",
        )
        app = create_app(settings)
        engine = app.state.engine
        cookie = sign_in(engine)
        pages, unfilled = studio_pages(app, ids)
        pages += with_new_events(pages)
        run = measure(app, pages, cookie, args.runs, sent_issue_id=ids["sent_issue_id"])
        rows, failures = asyncio.run(run)
        engine.dispose()
    print(f"\n{args.runs} requests per page after 3 warm-up requests, in-process, SQLite\n")
    print_table(["page", "median ms", "p95 ms", "size", "target"], rows)
    if unfilled:
        print(
            "\nNot measured (a path parameter this benchmark does not fill): " + ", ".join(unfilled)
        )
    if failures:
        print("\nFailed: " + "; ".join(failures))
    # Two verdicts, both printed: the issue's figure (every page as a reader finds it) and
    # the stricter check this benchmark adds (a page that must recount fresh raw events).
    for label, after in (("Issue 7's figure", False), ("Right after new events", True)):
        checked = [
            row
            for row in rows
            if row[0].endswith(AFTER_NEW_EVENTS) == after and row[4] in ("met", "MISSED")
        ]
        missed = [row[0] for row in checked if row[4] == "MISSED"]
        verdict = "MISSED on " + ", ".join(missed) if missed else f"met on all {len(checked)}"
        print(f"\nVerdict, {label}: {verdict}")


if __name__ == "__main__":
    main()
