"""CSRF on every cookie-authenticated unsafe route, and no state change from any GET.

Both lists are derived from app.routes (fastapi.routing.iter_route_contexts): a route added
later is covered without editing this file, or the test fails naming it (a path parameter
it cannot fill, unless SKIPPED says why).

1. Every POST, PUT, PATCH and DELETE under /studio, and any other route that reads the
   studio's session cookie, as a signed-in admin: without the CSRF token, with a wrong
   token, without the CSRF cookie, with a valid token but a foreign or "null" Origin, and
   with a foreign Referer but no token, the answer is the CSRF 403 and no table changes
   (row count and a hash of every row of every table). The same request with the token and
   this site's Origin gets past the check (the positive control). The app does not consult
   Referer: the token decides, a foreign Origin is refused on top (browsers send Origin on
   every cross-site POST). The login form carries a token as well (login CSRF).
2. Every GET (and HEAD) route of the whole app, with its path parameters filled from real
   rows and real signed tokens (studio as an admin, the API with an admin key, the public
   pages), changes nothing: every table is compared before and after each request. The
   exceptions are named with their reasons: GET_MAY_WRITE (the tracking pixel and click
   record engagement; compiling a preview registers its links), DERIVED_CACHES (count
   caches a report stores) and IGNORED_COLUMNS (an API key's last use). A GET on an
   unsubscribe link asks and does not unsubscribe.
"""

import re
import time
from collections.abc import Iterator
from hashlib import sha256
from itertools import product

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import MetaData, Table, func, inspect, select
from sqlmodel import Session

from app.accounts.models import ApiKey, Role, UserSession
from app.accounts.principal import CLI_PRINCIPAL
from app.db import unit_of_work
from app.delivery.models import RunState
from app.delivery.transports import transport_from_url
from app.demo import newsroom
from app.demo import seed as demo_seed
from app.deps import SESSION_COOKIE, studio_context, verify_csrf
from app.feedback.models import FeedbackSubmission
from app.issues import service as issues
from app.issues.models import Excerpt, ExcerptCreate, Issue, IssueStatus
from app.news.models import NewsItem
from app.segments.models import Segment, SegmentKind
from app.subscribers.models import Subscriber, SubscriberStatus
from app.tracking.models import EngagementEvent, ExcerptFeedback, PrivacyMode
from app.tracking.tokens import Purpose
from app.web.templating import CSRF_COOKIE
from app.webhooks import service as webhooks
from app.webhooks.models import WebhookEndpoint, WebhookEndpointCreate
from tests.conftest import make_api_key, make_user, make_user_token
from tests.delivery.factories import static_segment
from tests.delivery.test_send import run_send, start
from tests.tracking.factories import linked_issue, message_for

ORIGIN = "http://testserver"
EVIL = "https://evil.example"
CSRF_REFUSAL = "the form is stale or came from another site"
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
CSRF_IN_PAGE = re.compile(r'"X-CSRF-Token": "([0-9a-f]+)"')
PARAM = re.compile(r"{(\w+)(?::\w+)?}")

# What a GET may change, by route: table -> why. Anything else a GET changes fails.
TRACKING_HIT = {
    "engagement_event": "the documented exception: the pixel and the click redirect record "
    "engagement (docs/engagement.md); subscribers, feedback and the audit log stay as they are",
    "tracking_salt": "the issue's pseudonym salt for aggregate-mode readers, created with the "
    "first recorded event of the issue (part of recording the engagement event)",
    "engagement_summary": "every write of raw events marks the issue's count cache out of "
    "date (changes + 1) in the same transaction (app/analytics/tallies.py, events_changed)",
}
LINK_REGISTRY = {
    "tracked_link": "compiling a variant registers the links it contains (idempotent, on "
    "conflict do nothing): ids derived from the issue's content, so the preview and web "
    "version show the links a send will carry; nothing a reader or the studio sees changes",
}
GET_MAY_WRITE: dict[str, dict[str, str]] = {
    "/o/{token}.gif": TRACKING_HIT,
    "/c/{link_token}/{reader_token}": TRACKING_HIT,
    "/studio/issues/{issue_id}/preview": LINK_REGISTRY,
    "/api/v1/issues/{issue_id}/preview": LINK_REGISTRY,
    "/web/{token}": LINK_REGISTRY,
}
# Count caches any GET may write: a report that finds one out of date counts again from
# the rows it summarises and stores the counts (app/analytics/tallies.py). Derived only: the
# rows they count (delivery, engagement_event) are compared like every other table.
DERIVED_CACHES = {
    "engagement_summary": "raw events counted per issue, stored by a report when stale",
    "delivery_summary": "deliveries counted per issue, stored by a report when stale",
}
# Columns left out of the comparison, with the reason.
IGNORED_COLUMNS = {
    ("api_key", "last_used_at"): "bookkeeping of when a key was last used, touched at most "
    "once a minute by any authenticated API call (app/accounts/service.py)",
}
# Routes not requested, with the reason (none today; a route that cannot be filled fails).
SKIPPED: dict[str, str] = {}
# Routes that are not endpoints with path parameters: the concrete URL to request instead.
FIXED_URLS = {"/static": ["/static/favicon.svg"]}  # the StaticFiles mount: one real file


# --- the data ------------------------------------------------------------------------


class World:
    """Real rows and signed tokens to fill every path parameter, and a signed-in admin."""

    def __init__(self, app, engine):
        self.app, self.engine = app, engine
        self.client = TestClient(app, base_url=ORIGIN, raise_server_exceptions=False)
        with unit_of_work(engine) as session:
            demo_seed.load(session, subscriber_count=12)  # people and the target groups
            newsroom.load(session)  # news, the calendar, the next issue, a news flash
            draft = session.scalar(select(Issue).where(Issue.status == IssueStatus.draft))
            issues.add_excerpt(  # a link, so that compiling the draft has one to register
                session,
                issue=draft,
                actor=CLI_PRINCIPAL,
                data=ExcerptCreate(
                    kind="win", headline="A guide", body="Read [it](https://wiki.example.com/g)."
                ),
            )
        with Session(engine) as session:
            active = list(
                session.scalars(
                    select(Subscriber.id)
                    .where(Subscriber.status == SubscriberStatus.active)
                    .order_by(Subscriber.id)
                )
            )
        readers = static_segment(engine, "Readers", active[:4])
        # A sent issue with links, sent for real into the Maildir outbox.
        self.sent_issue = linked_issue(engine, [readers])
        start(engine, self.sent_issue)
        assert run_send(app, engine, self.sent_issue, app.state.settings.mail_url) == RunState.done
        self.reader = active[0]
        self.message = message_for(app, engine, self.sent_issue, self.reader)

        self.admin = make_user(engine, email="admin@example.com", role=Role.admin)
        self.editor = make_user(engine, email="editor@example.com", role=Role.editor)
        self.session_token = make_user_token(engine, self.admin)
        self.api_key = make_api_key(engine, "admin", name="sweep")
        make_api_key(engine, "news:write", name="spare")
        with unit_of_work(engine) as session:
            # Inactive: nothing is queued for it, so no background delivery runs mid-test.
            webhooks.create(
                session,
                data=WebhookEndpointCreate(url="https://hooks.example.com/in", is_active=False),
                actor=CLI_PRINCIPAL,
            )

        self.csrf_cookie, self.csrf_token = self._csrf()
        # Engagement, a vote and a feedback submission, made as people make them.
        self.pixel = self.message.pixel
        [self.click, *_] = self.message.clicks.values()
        assert self.request("GET", self.pixel).status_code == 200
        assert self.request("GET", self.click).status_code == 302
        vote = self.request(
            "POST", self._href("/f/"), data={"comment": "useful"}, headers={"Origin": ORIGIN}
        )
        assert vote.status_code == 200, vote.text
        form = self.request("GET", "/feedback")
        form_token = re.search(r'name="form_token" value="([^"]+)"', form.text).group(1)
        sent = self.request(
            "POST",
            "/feedback",
            headers={"Origin": ORIGIN},
            data={"form_token": form_token, "kind": "praise", "message": "The bulletin helps."},
        )
        assert sent.status_code == 303, sent.text
        self.job_id = self._import()
        app.state.recorder.drain()
        self.contexts = self._contexts()

    def _csrf(self) -> tuple[str, str]:
        """The CSRF cookie and token as the studio hands them to a browser."""
        page = self.request("GET", "/studio", cookies={SESSION_COOKIE: self.session_token})
        assert page.status_code == 200
        return page.cookies[CSRF_COOKIE], CSRF_IN_PAGE.search(page.text).group(1)

    def _href(self, prefix: str) -> str:
        found = re.search(rf'href="{ORIGIN}({prefix}[^"]+)"', self.message.html)
        assert found, f"the email has no {prefix} link"
        return found.group(1)

    def _import(self) -> str:
        """A finished CSV import started from the studio (its progress page has an id)."""
        answer = self.request(
            "POST",
            "/studio/subscribers/import",
            headers={"Origin": ORIGIN, "X-CSRF-Token": self.csrf_token},
            cookies=self.cookies(),
            files={"file": ("people.csv", b"email,name\nnew.person@example.com,New Person\n")},
        )
        assert answer.status_code == 303, answer.text
        job_id = answer.headers["location"].rsplit("/", 1)[-1]
        job = self.app.state.import_jobs.get(job_id)
        for _ in range(500):
            if job.finished:
                break
            time.sleep(0.01)
        assert job.finished and job.error is None, job.error
        return job_id

    def _contexts(self) -> list[dict]:
        signer = self.app.state.renderer.signer
        with Session(self.engine) as session:
            draft = session.scalar(
                select(Issue.id).where(Issue.status == IssueStatus.draft).order_by(Issue.id)
            )
            vote = session.scalar(select(ExcerptFeedback.id))
            subscriber = session.get(Subscriber, self.reader)

            def first(column, *where):
                return session.scalar(select(column).where(*where).order_by(column))

            common = {
                "subscriber_id": subscriber.id,
                "email": subscriber.email,
                "segment_id": first(Segment.id, Segment.kind != SegmentKind.static),
                "news_item_id": first(NewsItem.id),
                "submission_id": first(FeedbackSubmission.id),
                "user_id": self.editor,  # not the signed-in admin: a positive control may
                "key_id": first(ApiKey.id, ApiKey.name == "spare"),  # deactivate or revoke
                "webhook_id": first(WebhookEndpoint.id),
                "key": transport_from_url(self.app.state.settings.mail_url).list_messages(1)[0].key,
                "job_id": self.job_id,
                "table": ["issue", "segments", "excerpts"],
                ("/u/{token}", "token"): self._href("/u/").removeprefix("/u/"),
                ("/p/{token}", "token"): self._href("/p/").removeprefix("/p/"),
                ("/f/{token}", "token"): self._href("/f/").removeprefix("/f/"),
                ("/web/{token}", "token"): self._href("/web/").removeprefix("/web/"),
                ("/f/more/{token}", "token"): signer.make(Purpose.feedback_details, vote),
                ("/o/{token}.gif", "token"): self.pixel.removeprefix("/o/").removesuffix(".gif"),
                ("/c/{link_token}/{reader_token}", "link_token"): self.click.split("/")[2],
                ("/c/{link_token}/{reader_token}", "reader_token"): self.click.split("/")[3],
            }
            return [
                {
                    **common,
                    "issue_id": issue,
                    "excerpt_id": first(Excerpt.id, Excerpt.issue_id == issue),
                }
                for issue in (draft, self.sent_issue)
            ]

    def cookies(self) -> dict[str, str]:
        return {SESSION_COOKIE: self.session_token, CSRF_COOKIE: self.csrf_cookie}

    def request(self, method: str, url: str, *, cookies=None, headers=None, **kwargs):
        """One request with exactly these cookies (none kept from earlier answers)."""
        self.client.cookies.clear()
        for name, value in (cookies or {}).items():
            self.client.cookies.set(name, value)
        return self.client.request(
            method, url, headers=headers or {}, follow_redirects=False, **kwargs
        )


# --- routes, filled ------------------------------------------------------------------


class Unfillable(Exception):
    pass


def routes(app) -> Iterator:
    for route in iter_route_contexts(app.routes):
        if route.path not in SKIPPED:
            yield route


def urls(path: str, contexts: list[dict]) -> list[str]:
    """`path` with its parameters filled from each context (each value of a list)."""
    if path in FIXED_URLS:
        return FIXED_URLS[path]
    names = PARAM.findall(path)
    filled = []
    for context in contexts:
        choices = []
        for name in names:
            value = context.get((path, name), context.get(name))
            if value is None:
                raise Unfillable(f"{path}: no value for {{{name}}}")
            choices.append(value if isinstance(value, list) else [value])
        for values in product(*choices):
            url = path
            for name, value in zip(names, values, strict=True):
                url = re.sub(r"\{" + name + r"(?::\w+)?\}", str(value), url)
            if url not in filled:
                filled.append(url)
    return filled


def _calls(dependant) -> Iterator:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def reads_the_session_cookie(route) -> bool:
    """Under /studio (login and logout read the cookie themselves), or a studio user."""
    dependant = getattr(route, "dependant", None)
    return route.path.startswith("/studio") or (
        dependant is not None and studio_context in set(_calls(dependant))
    )


def unsafe_cookie_routes(app) -> list[tuple]:
    found = []
    for route in routes(app):
        for method in sorted(set(route.methods or ()) & set(UNSAFE)):
            if reads_the_session_cookie(route):
                found.append((route, method))
    return found


# --- the state witness ---------------------------------------------------------------


def snapshot(engine, tables: list[Table]) -> dict[str, tuple[int, str]]:
    """Every table's row count and a hash of its rows (IGNORED_COLUMNS left out)."""
    state = {}
    with engine.connect() as connection:
        for table in tables:
            kept = [c for c in table.columns if (table.name, c.name) not in IGNORED_COLUMNS]
            rows = sorted(repr(tuple(row)) for row in connection.execute(select(*kept)))
            state[table.name] = (len(rows), sha256("\n".join(rows).encode()).hexdigest())
    return state


def changed(before: dict, after: dict) -> set[str]:
    return {
        table for table in before.keys() | after.keys() if before.get(table) != after.get(table)
    }


@pytest.fixture
def world(app, engine) -> World:
    recorder = app.state.recorder
    recorder.drain()  # nothing from an earlier test lands in this one's tables
    recorder.mode = PrivacyMode.aggregate
    recorder.forget()
    app.state.renderer.forget_privacy_mode()
    return World(app, engine)


@pytest.fixture
def tables(engine) -> list[Table]:
    """Every table in the database (not only the models'), as the database has it."""
    metadata = MetaData()
    names = sorted(inspect(engine).get_table_names())
    return [Table(name, metadata, autoload_with=engine) for name in names]


# --- 1. CSRF on unsafe cookie routes -------------------------------------------------


def test_every_unsafe_cookie_route_depends_on_the_csrf_check(app):
    unsafe = unsafe_cookie_routes(app)
    assert unsafe, "no unsafe studio route found: the enumeration is broken"
    missing = [
        f"{method} {route.path} ({route.name})"
        for route, method in unsafe
        if verify_csrf not in set(_calls(route.dependant))
    ]
    assert missing == []


def refusals(world: World) -> list[tuple[str, dict, dict, dict]]:
    """(what, headers, cookies, form) of requests the CSRF check must refuse."""
    token, cookies = world.csrf_token, world.cookies()
    no_csrf_cookie = {SESSION_COOKIE: world.session_token}
    return [
        ("no token", {"Origin": ORIGIN}, cookies, {}),
        ("a wrong token", {"Origin": ORIGIN, "X-CSRF-Token": "0" * 64}, cookies, {}),
        (
            "a token without its cookie",
            {"Origin": ORIGIN, "X-CSRF-Token": token},
            no_csrf_cookie,
            {},
        ),
        (
            "a foreign Origin (token in header)",
            {"Origin": EVIL, "X-CSRF-Token": token},
            cookies,
            {},
        ),
        ("a foreign Origin (token in form)", {"Origin": EVIL}, cookies, {"csrf_token": token}),
        ("Origin: null", {"Origin": "null", "X-CSRF-Token": token}, cookies, {}),
        ("a foreign Referer, no Origin, no token", {"Referer": f"{EVIL}/page"}, cookies, {}),
    ]


def test_every_unsafe_cookie_route_refuses_a_missing_token_and_a_foreign_origin(
    world, engine, tables
):
    problems = []
    unsafe = unsafe_cookie_routes(world.app)
    before = snapshot(engine, tables)
    for route, method in unsafe:
        try:
            url = urls(route.path, world.contexts)[0]
        except Unfillable as exc:
            problems.append(f"{method} {route.name}: {exc}")
            continue
        for what, headers, cookies, form in refusals(world):
            answer = world.request(method, url, headers=headers, cookies=cookies, data=form)
            if answer.status_code != 403 or CSRF_REFUSAL not in answer.text:
                problems.append(f"{method} {url} with {what}: {answer.status_code}")
        after = snapshot(engine, tables)
        if changed(before, after):
            problems.append(f"{method} {url}, refused, changed {sorted(changed(before, after))}")
        before = after
    assert not problems, "\n".join(problems)


def test_the_same_requests_with_the_token_and_this_sites_origin_pass_the_check(world):
    # The positive control: each route as above, but with its token and this site's Origin,
    # gets past the check (to the view: 2xx, 3xx, or the view's own 404, 409, 422).
    problems, passed = [], 0
    for route, method in sorted(unsafe_cookie_routes(world.app), key=_undoing_last):
        url = urls(route.path, world.contexts)[0]
        headers = {"Origin": ORIGIN, "X-CSRF-Token": world.csrf_token}
        answer = world.request(method, url, headers=headers, cookies=world.cookies())
        to_login = answer.headers.get("location", "").startswith("/studio/login")
        if route.path == "/studio/logout":  # signing out ends at the login page
            to_login = answer.status_code != 303
        if answer.status_code == 403 or CSRF_REFUSAL in answer.text or to_login:
            problems.append(f"{method} {url}: {answer.status_code} {answer.text[:120]}")
        elif answer.status_code >= 500:
            problems.append(f"{method} {url}: server error {answer.status_code}")
        else:
            passed += 1
    assert not problems, "\n".join(problems)
    assert passed == len(unsafe_cookie_routes(world.app))


def _undoing_last(pair) -> tuple:
    # Signing out last, and what cancels, deletes or revokes just before it, so that the
    # routes before them act on the rows as they were.
    route, method = pair
    undoing = route.path.endswith(("/cancel", "/delete", "/revoke"))
    return (route.path == "/studio/logout", undoing, route.path, method)


def test_referer_is_not_consulted_the_token_decides_and_a_foreign_origin_is_refused(world):
    # The app checks the token and Origin, not Referer: with the token and no Origin, a
    # foreign Referer gets through (browsers send Origin on every cross-site POST, so a
    # forged form would carry a foreign Origin, refused above; it cannot read the token).
    headers = {"X-CSRF-Token": world.csrf_token, "Referer": f"{EVIL}/page"}
    answer = world.request("POST", "/studio/logout", headers=headers, cookies=world.cookies())
    assert answer.status_code == 303
    assert answer.headers["location"] == "/studio/login"


def test_the_login_form_carries_a_token_and_is_refused_without_it(world, engine, tables):
    # Login CSRF: another site must not sign a browser in to an account of its choosing.
    # The form (no session yet) carries a token for the CSRF cookie its page sets.
    page = world.request("GET", "/studio/login")
    cookie = page.cookies[CSRF_COOKIE]
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text).group(1)
    form = {"email": "admin@example.com", "password": "correct horse battery"}

    def sessions() -> int:
        with Session(engine) as session:
            return session.scalar(select(func.count()).select_from(UserSession))

    before, signed_in_before = snapshot(engine, tables), sessions()
    for headers, data in (
        ({"Origin": ORIGIN}, form),
        ({"Origin": EVIL}, {**form, "csrf_token": token}),
        ({"Origin": "null"}, {**form, "csrf_token": token}),
    ):
        refused = world.request(
            "POST", "/studio/login", headers=headers, cookies={CSRF_COOKIE: cookie}, data=data
        )
        assert refused.status_code == 403 and CSRF_REFUSAL in refused.text
        assert SESSION_COOKIE not in refused.cookies
    # No session, no counted attempt (login_attempt), no audit entry.
    assert changed(before, snapshot(engine, tables)) == set()

    signed_in = world.request(
        "POST",
        "/studio/login",
        headers={"Origin": ORIGIN},
        cookies={CSRF_COOKIE: cookie},
        data={**form, "csrf_token": token},
    )
    assert signed_in.status_code == 303 and signed_in.cookies[SESSION_COOKIE]
    assert sessions() == signed_in_before + 1


def test_the_public_feedback_form_is_refused_from_another_site(world, engine, tables):
    # No sign-in and no cookie: a signed form token and the Origin check stand in for CSRF.
    form_token = re.search(
        r'name="form_token" value="([^"]+)"', world.request("GET", "/feedback").text
    ).group(1)
    form = {"form_token": form_token, "kind": "praise", "message": "Keep it coming."}
    before = snapshot(engine, tables)
    for headers in (
        {"Origin": EVIL},
        {"Origin": "null"},
        {"Origin": ORIGIN, "Sec-Fetch-Site": "cross-site"},
    ):
        assert world.request("POST", "/feedback", headers=headers, data=form).status_code == 403
    assert changed(before, snapshot(engine, tables)) == set()
    stale = world.request(
        "POST", "/feedback", headers={"Origin": ORIGIN}, data={**form, "form_token": "x"}
    )
    assert stale.status_code == 403
    # A refused post counts towards the address's rate (by design); nothing else changes.
    assert changed(before, snapshot(engine, tables)) <= {"rate_limit_window"}

    details = urls("/f/more/{token}", world.contexts)[0]
    refused = world.request("POST", details, headers={"Origin": EVIL}, data={"comment": "x"})
    assert refused.status_code == 403
    assert changed(before, snapshot(engine, tables)) <= {"rate_limit_window"}

    accepted = world.request("POST", "/feedback", headers={"Origin": ORIGIN}, data=form)
    assert accepted.status_code == 303
    assert "feedback_submission" in changed(before, snapshot(engine, tables))


# --- 2. No GET changes state ---------------------------------------------------------


def get_requests(world: World) -> tuple[list[tuple], list[str]]:
    """(route, method, url, headers) for every GET and HEAD route, and what cannot be filled."""
    made, unfilled = [], []
    auth = {"Authorization": f"Bearer {world.api_key}"}
    for route in routes(world.app):
        methods = set(route.methods or ()) & {"GET", "HEAD"}
        if route.path in FIXED_URLS:
            methods = {"GET", "HEAD"}
        if not methods:
            continue
        try:
            filled = urls(route.path, world.contexts)
        except Unfillable as exc:
            unfilled.append(f"{route.name}: {exc}")
            continue
        for method, url in product(sorted(methods), filled):
            made.append((route, method, url, auth))
            if route.path.startswith("/studio"):  # the htmx fragment of the same URL
                made.append((route, method, url, {**auth, "HX-Request": "true"}))
    return made, unfilled


def test_no_get_route_changes_state(world, engine, tables):
    made, unfilled = get_requests(world)
    assert unfilled == []
    problems, answered = [], {}
    before = snapshot(engine, tables)
    for route, method, url, headers in made:
        answer = world.request(method, url, headers=headers, cookies=world.cookies())
        world.app.state.recorder.drain()  # tracking hits are written in the background
        after = snapshot(engine, tables)
        allowed = set(GET_MAY_WRITE.get(route.path, {})) | set(DERIVED_CACHES)
        unexpected = changed(before, after) - allowed
        if unexpected:
            problems.append(f"{method} {url} changed {sorted(unexpected)}")
        if answer.status_code >= 500:
            problems.append(f"{method} {url}: server error {answer.status_code}")
        to_login = answer.headers.get("location", "").startswith("/studio/login")
        if answer.status_code < 400 and not to_login:
            answered.setdefault(route.path, []).append(url)
        before = after
    assert not problems, "\n".join(problems)
    # Each route was reached, not only refused: at least one of its URLs answered 2xx or 3xx.
    not_reached = sorted({route.path for route, *_ in made} - set(answered))
    assert not_reached == []


def test_the_allow_lists_name_real_routes_and_tables(app, tables):
    paths = {route.path for route in iter_route_contexts(app.routes)}
    names = {table.name: {c.name for c in table.columns} for table in tables}
    assert set(GET_MAY_WRITE) | set(SKIPPED) | set(FIXED_URLS) <= paths
    allowed = {t for listed in GET_MAY_WRITE.values() for t in listed} | set(DERIVED_CACHES)
    assert allowed <= set(names)
    assert all(column in names[table] for table, column in IGNORED_COLUMNS)


def test_the_tracking_exception_records_engagement_and_nothing_else(world, engine, tables):
    # The allow-list above is not a blind spot: the pixel and the click do write, and only
    # the engagement tables.
    for url in (world.pixel, world.click):
        for method in ("GET", "HEAD"):
            with Session(engine) as session:
                events = session.scalar(select(func.count()).select_from(EngagementEvent))
            before = snapshot(engine, tables)
            assert world.request(method, url).status_code in (200, 302)
            world.app.state.recorder.drain()
            assert changed(before, snapshot(engine, tables)) <= set(TRACKING_HIT)
            with Session(engine) as session:
                assert (
                    session.scalar(select(func.count()).select_from(EngagementEvent)) == events + 1
                )


def test_a_get_on_the_unsubscribe_link_asks_and_the_post_unsubscribes(world, engine, tables):
    url = urls("/u/{token}", world.contexts)[0]
    before = snapshot(engine, tables)
    page = world.request("GET", url)
    assert page.status_code == 200
    assert re.search(r'<form[^>]*method="post"', page.text, re.I), "no confirmation button"
    assert changed(before, snapshot(engine, tables)) == set()
    with Session(engine) as session:
        assert session.get(Subscriber, world.reader).status == SubscriberStatus.active

    # The witness sees a real change: the one-click POST (RFC 8058, no cookie) unsubscribes.
    done = world.request("POST", url, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    assert {"subscriber", "audit_entry"} <= changed(before, snapshot(engine, tables))
    with Session(engine) as session:
        assert session.get(Subscriber, world.reader).status == SubscriberStatus.unsubscribed
