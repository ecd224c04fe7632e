"""Who may call what: every route of the app against every kind of caller, from one table.

The callers: nobody (no credentials), a studio user of each role (a session cookie on
/studio, the same person's sign-in token as `Authorization: Bearer` on /api/v1, as
POST /api/v1/auth/token gives it) and an API key of each single scope. EXPECTED names, for
every (method, path template) of the app, the callers let through, written by hand from
what the product promises (README: keys report and read, people compose and approve, a
viewer reads, an approver approves, schedules and sends, `admin` is everything). A route
missing from the table, or a table entry whose route is gone, fails the first test by name.

Refused means: on the API 401 without credentials and 403 with the wrong scope or role; on
the studio a redirect to the sign-in page without a session and 403 with the wrong role.
Let through means the request got past authorization: anything but 401, 403 or the sign-in
redirect (a 404, 409 or 422 for an empty body is fine). Path parameters name real rows for
reading and for acting (reads first, deletions last); unsafe studio requests carry a valid
CSRF token (the public feedback form its form token, and the few studio actions that check
their form before the role a valid form), so no other refusal can pass for the role's. Mail
goes to the tests' Maildir outbox, webhooks to a closed local port. Each caller is one test
that collects every mismatch into one report.

The credentials do not cross over: a studio session cookie opens nothing under /api/v1,
and neither an API key nor a sign-in token as Bearer opens a studio page.

SQLite only: authorization does not depend on the database.
"""

import hashlib
import hmac
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.accounts import service as accounts
from app.accounts.models import Role
from app.accounts.principal import CLI_PRINCIPAL
from app.deps import SESSION_COOKIE
from app.feedback.models import FeedbackSubmission
from app.issues import service as issues
from app.issues.models import ExcerptCreate, SectionCreate
from app.tracking.tokens import Purpose
from app.web.templating import CSRF_COOKIE, CSRF_HEADER
from app.webhooks.models import WebhookEndpoint
from tests.conftest import make_api_key, make_user, make_user_token
from tests.delivery.factories import static_segment
from tests.studio import factories

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

# --- the callers -----------------------------------------------------------------------------

ANONYMOUS = "anonymous"
VIEWER, EDITOR, APPROVER, ADMIN = "viewer", "editor", "approver", "admin"
KEY_NEWS_WRITE = "key news:write"
KEY_SUBSCRIBERS_READ = "key subscribers:read"
KEY_SUBSCRIBERS_WRITE = "key subscribers:write"
KEY_ISSUES_READ = "key issues:read"
KEY_STATS_READ = "key stats:read"
KEY_ADMIN = "key admin"

ROLES = {VIEWER: Role.viewer, EDITOR: Role.editor, APPROVER: Role.approver, ADMIN: Role.admin}
KEYS = {
    KEY_NEWS_WRITE: "news:write",
    KEY_SUBSCRIBERS_READ: "subscribers:read",
    KEY_SUBSCRIBERS_WRITE: "subscribers:write",
    KEY_ISSUES_READ: "issues:read",
    KEY_STATS_READ: "stats:read",
    KEY_ADMIN: "admin",
}
CALLERS = [ANONYMOUS, *ROLES, *KEYS]

# --- who, in groups --------------------------------------------------------------------------

EVERYONE = frozenset(CALLERS)  # public: the archive, the reader's links, sign-in, docs
PEOPLE = frozenset(ROLES)  # any signed-in studio user, whatever the role
EDITORS = frozenset({EDITOR, ADMIN})
APPROVERS = frozenset({APPROVER, ADMIN})
EDITORS_AND_APPROVERS = frozenset({EDITOR, APPROVER, ADMIN})
ADMINS = frozenset({ADMIN})

# The API: people by role (their sign-in token) and keys by scope; an admin key does all.
API_ADMINS = ADMINS | {KEY_ADMIN}
ISSUE_READERS = PEOPLE | {KEY_ISSUES_READ, KEY_ADMIN}
ISSUE_WRITERS = EDITORS | {KEY_ADMIN}  # composing is for people (and the all-powerful key)
ISSUE_APPROVERS = APPROVERS | {KEY_ADMIN}
ISSUE_WRITERS_OR_APPROVERS = EDITORS_AND_APPROVERS | {KEY_ADMIN}
NEWS_POSTERS = EDITORS | {KEY_NEWS_WRITE, KEY_ADMIN}
# The inbox: whoever reads issues, and the posting services reading back their items.
NEWS_READERS = PEOPLE | {KEY_ISSUES_READ, KEY_NEWS_WRITE, KEY_ADMIN}
SUBSCRIBER_READERS = PEOPLE | {KEY_SUBSCRIBERS_READ, KEY_ADMIN}
SUBSCRIBER_WRITERS = EDITORS | {KEY_SUBSCRIBERS_WRITE, KEY_ADMIN}
STATS_READERS = PEOPLE | {KEY_STATS_READ, KEY_ADMIN}
# The feedback inbox holds names and addresses: people, no scoped key.
FEEDBACK_READERS = PEOPLE | {KEY_ADMIN}
FEEDBACK_TRIAGERS = EDITORS_AND_APPROVERS | {KEY_ADMIN}
SIGNED_IN_PEOPLE = PEOPLE  # signing out a sign-in token

# The studio: people only (a key never opens it).
STUDIO_USERS = PEOPLE

EXPECTED: dict[tuple[str, str], frozenset[str]] = {
    # public
    ("GET", "/"): EVERYONE,
    ("GET", "/healthz"): EVERYONE,
    ("GET", "/docs"): EVERYONE,
    ("GET", "/redoc"): EVERYONE,
    ("GET", "/openapi.json"): EVERYONE,
    ("GET", "/static/{path}"): EVERYONE,
    ("GET", "/o/{token}.gif"): EVERYONE,
    ("GET", "/c/{link_token}/{reader_token}"): EVERYONE,
    ("GET", "/u/{token}"): EVERYONE,
    ("POST", "/u/{token}"): EVERYONE,
    ("GET", "/p/{token}"): EVERYONE,
    ("POST", "/p/{token}"): EVERYONE,
    ("GET", "/f/{token}"): EVERYONE,
    ("POST", "/f/{token}"): EVERYONE,
    ("GET", "/f/more/{token}"): EVERYONE,
    ("POST", "/f/more/{token}"): EVERYONE,
    ("GET", "/web/{token}"): EVERYONE,
    ("GET", "/feedback"): EVERYONE,
    ("POST", "/feedback"): EVERYONE,
    ("GET", "/feedback/thanks"): EVERYONE,
    ("GET", "/archive"): EVERYONE,
    ("GET", "/archive/feed.atom"): EVERYONE,
    ("GET", "/archive/{issue_id}"): EVERYONE,
    ("GET", "/preferences"): EVERYONE,
    ("GET", "/studio/login"): EVERYONE,
    ("POST", "/studio/login"): EVERYONE,
    ("POST", "/studio/logout"): EVERYONE,
    ("POST", "/api/v1/auth/token"): EVERYONE,
    # API: accounts, audit, settings
    ("DELETE", "/api/v1/auth/token"): SIGNED_IN_PEOPLE,
    ("GET", "/api/v1/api-keys"): API_ADMINS,
    ("POST", "/api/v1/api-keys"): API_ADMINS,
    ("DELETE", "/api/v1/api-keys/{key_id}"): API_ADMINS,
    ("GET", "/api/v1/users"): API_ADMINS,
    ("POST", "/api/v1/users"): API_ADMINS,
    ("GET", "/api/v1/users/{user_id}"): API_ADMINS,
    ("PATCH", "/api/v1/users/{user_id}"): API_ADMINS,
    ("POST", "/api/v1/users/{user_id}/password"): API_ADMINS,
    ("GET", "/api/v1/audit"): API_ADMINS,
    ("GET", "/api/v1/settings/privacy"): STATS_READERS,
    ("PUT", "/api/v1/settings/privacy"): API_ADMINS,
    ("GET", "/api/v1/outbox"): API_ADMINS,
    ("GET", "/api/v1/outbox/{key}"): API_ADMINS,
    # API: subscribers and segments
    ("GET", "/api/v1/subscribers"): SUBSCRIBER_READERS,
    ("POST", "/api/v1/subscribers"): SUBSCRIBER_WRITERS,
    ("GET", "/api/v1/subscribers/export.csv"): SUBSCRIBER_READERS,
    ("POST", "/api/v1/subscribers/import"): SUBSCRIBER_WRITERS,
    ("GET", "/api/v1/subscribers/by-email/{email}"): SUBSCRIBER_READERS,
    ("PUT", "/api/v1/subscribers/by-email/{email}"): SUBSCRIBER_WRITERS,
    ("GET", "/api/v1/subscribers/{subscriber_id}"): SUBSCRIBER_READERS,
    ("PATCH", "/api/v1/subscribers/{subscriber_id}"): SUBSCRIBER_WRITERS,
    ("DELETE", "/api/v1/subscribers/{subscriber_id}"): SUBSCRIBER_WRITERS,
    ("GET", "/api/v1/segments"): SUBSCRIBER_READERS,
    ("POST", "/api/v1/segments"): SUBSCRIBER_WRITERS,
    ("POST", "/api/v1/segments/preview"): SUBSCRIBER_READERS,
    ("GET", "/api/v1/segments/{segment_id}"): SUBSCRIBER_READERS,
    ("GET", "/api/v1/segments/{segment_id}/members"): SUBSCRIBER_READERS,
    ("PATCH", "/api/v1/segments/{segment_id}"): SUBSCRIBER_WRITERS,
    ("DELETE", "/api/v1/segments/{segment_id}"): SUBSCRIBER_WRITERS,
    ("POST", "/api/v1/segments/{segment_id}/members"): SUBSCRIBER_WRITERS,
    ("DELETE", "/api/v1/segments/{segment_id}/members/{subscriber_id}"): SUBSCRIBER_WRITERS,
    # API: news
    ("POST", "/api/v1/news-items"): NEWS_POSTERS,
    ("GET", "/api/v1/news-items"): NEWS_READERS,
    ("GET", "/api/v1/news-items/{news_item_id}"): NEWS_READERS,
    ("PATCH", "/api/v1/news-items/{news_item_id}"): NEWS_POSTERS,
    ("POST", "/api/v1/news-items/{news_item_id}/archive"): NEWS_POSTERS,
    # API: issues, their content and workflow, the calendar
    ("GET", "/api/v1/issues"): ISSUE_READERS,
    ("POST", "/api/v1/issues"): ISSUE_WRITERS,
    ("GET", "/api/v1/issues/{issue_id}"): ISSUE_READERS,
    ("PATCH", "/api/v1/issues/{issue_id}"): ISSUE_WRITERS,
    ("GET", "/api/v1/issues/{issue_id}/balance"): ISSUE_READERS,
    ("GET", "/api/v1/issues/{issue_id}/suggestions"): ISSUE_READERS,
    ("POST", "/api/v1/issues/{issue_id}/sections"): ISSUE_WRITERS,
    ("PUT", "/api/v1/issues/{issue_id}/sections/order"): ISSUE_WRITERS,
    ("PATCH", "/api/v1/issues/{issue_id}/sections/{section_id}"): ISSUE_WRITERS,
    ("DELETE", "/api/v1/issues/{issue_id}/sections/{section_id}"): ISSUE_WRITERS,
    ("PUT", "/api/v1/issues/{issue_id}/sections/{section_id}/order"): ISSUE_WRITERS,
    ("POST", "/api/v1/issues/{issue_id}/excerpts"): ISSUE_WRITERS,
    ("PATCH", "/api/v1/issues/{issue_id}/excerpts/{excerpt_id}"): ISSUE_WRITERS,
    ("POST", "/api/v1/issues/{issue_id}/excerpts/{excerpt_id}/move"): ISSUE_WRITERS,
    ("DELETE", "/api/v1/issues/{issue_id}/excerpts/{excerpt_id}"): ISSUE_WRITERS,
    ("PUT", "/api/v1/issues/{issue_id}/excerpts/{excerpt_id}/framings/{segment_id}"): (
        ISSUE_WRITERS
    ),
    ("DELETE", "/api/v1/issues/{issue_id}/excerpts/{excerpt_id}/framings/{segment_id}"): (
        ISSUE_WRITERS
    ),
    ("POST", "/api/v1/issues/{issue_id}/submit"): ISSUE_WRITERS,
    ("POST", "/api/v1/issues/{issue_id}/approve"): ISSUE_APPROVERS,
    ("POST", "/api/v1/issues/{issue_id}/schedule"): ISSUE_APPROVERS,
    ("POST", "/api/v1/issues/{issue_id}/unschedule"): ISSUE_APPROVERS,
    ("POST", "/api/v1/issues/{issue_id}/return-to-draft"): ISSUE_WRITERS_OR_APPROVERS,
    ("POST", "/api/v1/issues/{issue_id}/cancel"): ISSUE_APPROVERS,
    ("GET", "/api/v1/calendar"): ISSUE_READERS,
    ("PUT", "/api/v1/calendar"): API_ADMINS,
    ("POST", "/api/v1/calendar/plan"): ISSUE_WRITERS,
    # API: rendering, sending, stats
    ("GET", "/api/v1/issues/{issue_id}/preview"): ISSUE_READERS,
    ("POST", "/api/v1/issues/{issue_id}/test-send"): ISSUE_WRITERS,
    ("POST", "/api/v1/issues/{issue_id}/send"): ISSUE_APPROVERS,
    ("GET", "/api/v1/issues/{issue_id}/delivery"): ISSUE_READERS,
    ("POST", "/api/v1/issues/{issue_id}/send/pause"): ISSUE_APPROVERS,
    ("POST", "/api/v1/issues/{issue_id}/send/resume"): ISSUE_APPROVERS,
    ("POST", "/api/v1/issues/{issue_id}/send/cancel"): ISSUE_APPROVERS,
    ("GET", "/api/v1/issues/{issue_id}/stats"): STATS_READERS,
    ("GET", "/api/v1/issues/{issue_id}/stats/segments"): STATS_READERS,
    ("GET", "/api/v1/issues/{issue_id}/stats/excerpts"): STATS_READERS,
    ("GET", "/api/v1/stats/trend"): STATS_READERS,
    # API: webhooks, feedback
    ("GET", "/api/v1/webhooks"): API_ADMINS,
    ("POST", "/api/v1/webhooks"): API_ADMINS,
    ("GET", "/api/v1/webhooks/{webhook_id}"): API_ADMINS,
    ("PATCH", "/api/v1/webhooks/{webhook_id}"): API_ADMINS,
    ("DELETE", "/api/v1/webhooks/{webhook_id}"): API_ADMINS,
    ("POST", "/api/v1/webhooks/{webhook_id}/rotate-secret"): API_ADMINS,
    ("GET", "/api/v1/webhooks/{webhook_id}/deliveries"): API_ADMINS,
    ("POST", "/api/v1/webhooks/{webhook_id}/ping"): API_ADMINS,
    ("GET", "/api/v1/feedback"): FEEDBACK_READERS,
    ("PATCH", "/api/v1/feedback/{submission_id}"): FEEDBACK_TRIAGERS,
    # studio: home, own account, feedback inbox, news inbox
    ("GET", "/studio"): STUDIO_USERS,
    ("GET", "/studio/account/password"): STUDIO_USERS,
    ("POST", "/studio/account/password"): STUDIO_USERS,
    ("GET", "/studio/feedback"): STUDIO_USERS,
    ("POST", "/studio/feedback/{submission_id}"): EDITORS_AND_APPROVERS,
    ("GET", "/studio/inbox"): STUDIO_USERS,
    ("POST", "/studio/inbox/{news_item_id}/add"): EDITORS,
    ("GET", "/studio/inbox/new"): EDITORS,
    ("POST", "/studio/inbox/new"): EDITORS,
    # studio: issues, the excerpt editor, the workflow
    ("GET", "/studio/issues"): STUDIO_USERS,
    ("GET", "/studio/issues/{issue_id}"): STUDIO_USERS,
    ("GET", "/studio/issues/{issue_id}/excerpts/{excerpt_id}"): STUDIO_USERS,
    ("GET", "/studio/issues/{issue_id}/excerpts/{excerpt_id}/edit"): EDITORS,
    ("POST", "/studio/issues/{issue_id}/excerpts/{excerpt_id}/edit"): EDITORS,
    ("GET", "/studio/issues/{issue_id}/excerpts/{excerpt_id}/framings"): EDITORS,
    ("POST", "/studio/issues/{issue_id}/excerpts/{excerpt_id}/framings/{segment_id}"): EDITORS,
    ("POST", "/studio/issues/{issue_id}/excerpts/{excerpt_id}/framings/{segment_id}/delete"): (
        EDITORS
    ),
    ("POST", "/studio/issues/{issue_id}/excerpts/{excerpt_id}/move"): EDITORS,
    ("POST", "/studio/issues/{issue_id}/excerpts/{excerpt_id}/delete"): EDITORS,
    ("POST", "/studio/issues/{issue_id}/submit"): EDITORS,
    ("POST", "/studio/issues/{issue_id}/approve"): APPROVERS,
    ("POST", "/studio/issues/{issue_id}/schedule"): APPROVERS,
    ("POST", "/studio/issues/{issue_id}/unschedule"): APPROVERS,
    ("POST", "/studio/issues/{issue_id}/return-to-draft"): EDITORS_AND_APPROVERS,
    ("POST", "/studio/issues/{issue_id}/cancel"): APPROVERS,
    ("GET", "/studio/issues/{issue_id}/preview"): STUDIO_USERS,
    ("POST", "/studio/issues/{issue_id}/test-send"): EDITORS,
    # studio: sending, the outbox
    ("GET", "/studio/issues/{issue_id}/sending"): STUDIO_USERS,
    ("GET", "/studio/issues/{issue_id}/sending/progress"): STUDIO_USERS,
    ("POST", "/studio/issues/{issue_id}/send"): APPROVERS,
    ("POST", "/studio/issues/{issue_id}/send/pause"): APPROVERS,
    ("POST", "/studio/issues/{issue_id}/send/resume"): APPROVERS,
    ("POST", "/studio/issues/{issue_id}/send/cancel"): APPROVERS,
    ("GET", "/studio/outbox"): ADMINS,
    ("GET", "/studio/outbox/{key}"): ADMINS,
    ("GET", "/studio/outbox/{key}/html"): ADMINS,
    # studio: analytics
    ("GET", "/studio/analytics"): STUDIO_USERS,
    ("GET", "/studio/analytics/trend.csv"): STUDIO_USERS,
    ("GET", "/studio/issues/{issue_id}/analytics"): STUDIO_USERS,
    ("GET", "/studio/issues/{issue_id}/analytics/{table}.csv"): STUDIO_USERS,
    # studio: subscribers and segments
    ("GET", "/studio/subscribers"): STUDIO_USERS,
    ("GET", "/studio/subscribers/export.csv"): STUDIO_USERS,
    ("GET", "/studio/subscribers/import"): EDITORS,
    ("POST", "/studio/subscribers/import"): EDITORS,
    ("GET", "/studio/subscribers/import/{job_id}"): EDITORS,
    ("GET", "/studio/subscribers/{subscriber_id}"): STUDIO_USERS,
    ("GET", "/studio/segments"): STUDIO_USERS,
    ("GET", "/studio/segments/new"): EDITORS,
    ("POST", "/studio/segments/new"): EDITORS,
    ("GET", "/studio/segments/count"): STUDIO_USERS,
    ("GET", "/studio/segments/condition"): STUDIO_USERS,
    ("GET", "/studio/segments/{segment_id}"): STUDIO_USERS,
    ("POST", "/studio/segments/{segment_id}"): EDITORS,
    # studio: settings (admins), except reading the privacy mode
    ("GET", "/studio/settings"): ADMINS,
    ("GET", "/studio/settings/privacy"): STUDIO_USERS,
    ("POST", "/studio/settings/privacy"): ADMINS,
    ("GET", "/studio/settings/mail"): ADMINS,
    ("POST", "/studio/settings/mail/test"): ADMINS,
    ("GET", "/studio/settings/cadence"): ADMINS,
    ("POST", "/studio/settings/cadence"): ADMINS,
    ("GET", "/studio/settings/users"): ADMINS,
    ("POST", "/studio/settings/users"): ADMINS,
    ("POST", "/studio/settings/users/{user_id}/role"): ADMINS,
    ("POST", "/studio/settings/users/{user_id}/active"): ADMINS,
    ("POST", "/studio/settings/users/{user_id}/password"): ADMINS,
    ("GET", "/studio/settings/api-keys"): ADMINS,
    ("POST", "/studio/settings/api-keys"): ADMINS,
    ("POST", "/studio/settings/api-keys/{key_id}/revoke"): ADMINS,
    ("GET", "/studio/settings/webhooks"): ADMINS,
    ("POST", "/studio/settings/webhooks"): ADMINS,
    ("GET", "/studio/settings/webhooks/{webhook_id}"): ADMINS,
    ("POST", "/studio/settings/webhooks/{webhook_id}/active"): ADMINS,
    ("POST", "/studio/settings/webhooks/{webhook_id}/rotate"): ADMINS,
    ("POST", "/studio/settings/webhooks/{webhook_id}/ping"): ADMINS,
    ("POST", "/studio/settings/webhooks/{webhook_id}/delete"): ADMINS,
}

# A key on DELETE /api/v1/auth/token is not a sign-in token: 401, not 403 (see its docstring).
REFUSED_WITH_401 = {("DELETE", "/api/v1/auth/token")}
# Studio actions whose form fields are checked before the role (a 422 would hide the refusal):
# the smallest valid form. Values name rows like paths do.
FORMS = {
    ("POST", "/studio/inbox/{news_item_id}/add"): {"issue_id": "{issue_id}"},
    ("POST", "/studio/issues/{issue_id}/excerpts/{excerpt_id}/move"): {"position": "0"},
    ("POST", "/studio/settings/privacy"): {"mode": "aggregate"},
    ("POST", "/studio/settings/users/{user_id}/active"): {"active": "true"},
    ("POST", "/studio/settings/webhooks/{webhook_id}/active"): {"active": "true"},
}
# A header and no rows: the import job that starts for an editor writes nothing.
UPLOADS = {("POST", "/studio/subscribers/import"): {"file": ("people.csv", b"email\n", "text/csv")}}
CSRF_REFUSAL = "the form is stale or came from another site"
MISSING = 999999


# --- the routes ------------------------------------------------------------------------------


def app_routes(app) -> list[tuple[str, str]]:
    """(method, path template) of every route; GET stands for GET and HEAD; a mount is GET of
    any path under it."""
    found = set()
    for route in iter_route_contexts(app.routes):
        methods = set(route.methods or ())
        if not methods:  # a Mount (static files)
            found.add(("GET", route.path + "/{path}"))
            continue
        if "GET" in methods:
            methods.discard("HEAD")
        # path_format: the template as documented, without convertors ({id:int} is {id}).
        found.update((method, route.path_format) for method in methods)
    return sorted(found)


def in_order(keys) -> list[tuple[str, str]]:
    """Reads first, then changes, deletions last: the rows stay there for every request that
    names them (an allowed caller acts for real)."""

    def rank(key: tuple[str, str]) -> tuple[int, str, str]:
        method, path = key
        removes = method == "DELETE" or path.endswith(("/delete", "/revoke", "/logout"))
        return (2 if removes else 0 if method == "GET" else 1, path, method)

    return sorted(keys, key=rank)


def is_public(key: tuple[str, str]) -> bool:
    return EXPECTED[key] == EVERYONE


@dataclass
class Rows:
    """Real rows to name in paths (and a key and user that are targets, never callers)."""

    values: dict[str, str]

    def fill(self, path: str) -> str:
        return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: self.values.get(m[1], str(MISSING)), path)


@pytest.fixture
def rows(engine) -> Rows:
    with Session(engine, expire_on_commit=False) as session:
        subscriber = factories.subscriber(session)
        item = factories.news_item(session)
        session.commit()
        segment_id = static_segment(engine, "Key users", [subscriber.id])
        issue = factories.issue(session, segment_ids=[segment_id])
        section = issues.add_section(
            session, issue=issue, data=SectionCreate(title="Service desk"), actor=CLI_PRINCIPAL
        )
        # Neither a win nor open work: submitting with an empty body is a 422, not a success
        # that would change which later requests make sense.
        excerpt = issues.add_excerpt(
            session,
            issue=issue,
            data=ExcerptCreate(kind="info", headline="Opening hours", section_id=section.id),
            actor=CLI_PRINCIPAL,
        )
        # A closed local port: a ping fails at once and nothing leaves the machine.
        hook = WebhookEndpoint(url="http://127.0.0.1:9/hook", secret="s" * 32)
        feedback = FeedbackSubmission(kind="praise", message="Thanks")
        session.add_all([hook, feedback])
        session.commit()
        values = {
            "subscriber_id": subscriber.id,
            "email": subscriber.email,
            "segment_id": segment_id,
            "news_item_id": item.id,
            "issue_id": issue.id,
            "section_id": section.id,
            "excerpt_id": excerpt.id,
            "webhook_id": hook.id,
            "submission_id": feedback.id,
        }
    key_id = _key_id(engine, make_api_key(engine, "news:write", name="target"))
    values["key_id"] = key_id
    values["user_id"] = make_user(engine, email="target@example.com", role=Role.viewer)
    values["table"] = "segments"
    values["path"] = "studio.css"
    for name in ("token", "link_token", "reader_token", "key", "job_id"):
        values[name] = "not-a-real-token"
    return Rows({name: str(value) for name, value in values.items()})


def _key_id(engine, secret: str) -> int:
    with Session(engine) as session:
        return accounts.principal_for_api_key(session, secret=secret).id


@pytest.fixture
def caller_client(app, engine) -> Iterator[TestClient]:
    # A server error is reported as a mismatch with its route, not raised mid-loop.
    with TestClient(app, base_url="http://testserver", raise_server_exceptions=False) as client:
        yield client


class Caller:
    """Sends one request as one caller: fresh credentials each time (a request may sign out)."""

    def __init__(self, name: str, app, engine, client: TestClient):
        self.name, self.app, self.engine, self.client = name, app, engine, client
        self.user_id = (
            make_user(engine, email=f"{name}@example.com", role=ROLES[name])
            if name in ROLES
            else None
        )
        self.key = make_api_key(engine, KEYS[name], name=name) if name in KEYS else None

    def credentials(self, path: str) -> tuple[dict[str, str], dict[str, str]]:
        """(headers, cookies) as this caller would send them to `path`."""
        if self.key is not None:
            return {"Authorization": f"Bearer {self.key}"}, {}
        if self.user_id is None:
            return {}, {}
        token = make_user_token(self.engine, self.user_id)
        if path.startswith("/api/"):
            return {"Authorization": f"Bearer {token}"}, {}
        return {}, {SESSION_COOKIE: token}

    def send(self, method: str, path: str, headers: dict, cookies: dict, *, key=None, rows=None):
        self.client.cookies.clear()
        for name, value in cookies.items():
            self.client.cookies.set(name, value)
        headers = dict(headers)
        body = {}
        if method not in ("GET", "HEAD"):
            if path.startswith("/api/"):
                body["json"] = {}
            elif path == "/feedback":
                # The public form's own token (signed time of the page), as the page gives it.
                signer = self.app.state.renderer.signer
                body["data"] = {"form_token": signer.make(Purpose.feedback_form, int(time.time()))}
            else:
                if key in FORMS:
                    body["data"] = {k: rows.fill(v) for k, v in FORMS[key].items()}
                if key in UPLOADS:
                    body["files"] = UPLOADS[key]
                csrf_cookie = "authorization-matrix"
                self.client.cookies.set(CSRF_COOKIE, csrf_cookie)
                secret = self.app.state.secret_key.encode()
                headers[CSRF_HEADER] = hmac.new(
                    secret, csrf_cookie.encode(), hashlib.sha256
                ).hexdigest()
        return self.client.request(method, path, headers=headers, follow_redirects=False, **body)


def sent_to_sign_in(response) -> bool:
    return response.status_code in (302, 303, 307) and response.headers.get(
        "location", ""
    ).startswith("/studio/login?next=")


def verdict(key: tuple[str, str], caller: str, response) -> str | None:
    """None when the answer is what the table says, else what is wrong."""
    path = key[1]
    status = response.status_code
    seen = f"{status}" + (
        f" -> {response.headers['location']}" if "location" in response.headers else ""
    )
    if status >= 500:
        return f"server error {seen}"
    if caller in EXPECTED[key]:
        if status in (401, 403) or sent_to_sign_in(response):
            return f"should be let through, got {seen}: {response.text[:120]!r}"
        return None
    if path.startswith("/api/"):
        want = 401 if caller == ANONYMOUS or key in REFUSED_WITH_401 else 403
        if status != want:
            return f"should be refused with {want}, got {seen}"
        return None
    # The studio: no session goes to the sign-in page, the wrong role gets 403.
    if caller not in ROLES:
        return None if sent_to_sign_in(response) else f"should go to sign-in, got {seen}"
    if status != 403:
        return f"should be refused with 403, got {seen}"
    if CSRF_REFUSAL in response.text:
        return "refused by the CSRF check, not by the role: the test's token is wrong"
    return None


# --- the tests -------------------------------------------------------------------------------


def test_the_table_names_every_route_and_no_other(app):
    routes = set(app_routes(app))
    missing = sorted(routes - EXPECTED.keys())
    stale = sorted(EXPECTED.keys() - routes)
    problems = [f"no entry in EXPECTED (who may call it?): {m} {p}" for m, p in missing]
    problems += [f"in EXPECTED but no longer a route of the app: {m} {p}" for m, p in stale]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("caller", CALLERS)
def test_each_route_lets_through_or_refuses_the_caller_as_the_table_says(
    app, engine, rows, caller_client, caller
):
    who = Caller(caller, app, engine, caller_client)
    failures = []
    for key in in_order(EXPECTED.keys() & set(app_routes(app))):
        method, template = key
        path = rows.fill(template)
        headers, cookies = who.credentials(path)
        response = who.send(method, path, headers, cookies, key=key, rows=rows)
        problem = verdict(key, caller, response)
        if problem:
            failures.append(f"{method} {template} ({path}): {problem}")
    assert not failures, f"{caller}:\n" + "\n".join(failures)


def test_credentials_do_not_cross_between_the_api_and_the_studio(app, engine, rows, caller_client):
    """An admin's studio cookie opens no API route (and an unknown key gets 401 there, as
    nobody does); an admin key or an admin's sign-in token sent as Bearer opens no studio
    page."""
    admin = Caller(ADMIN, app, engine, caller_client)
    admin_key = Caller(KEY_ADMIN, app, engine, caller_client)
    failures = []
    for key in in_order(EXPECTED.keys() & set(app_routes(app))):
        if is_public(key):
            continue
        method, template = key
        path = rows.fill(template)
        if path.startswith("/api/"):
            _, cookies = admin.credentials("/studio")
            response = admin.send(method, path, {}, cookies, key=key, rows=rows)
            if response.status_code != 401:
                failures.append(f"{method} {template}: studio cookie got {response.status_code}")
            unknown = {"Authorization": f"Bearer {accounts.API_KEY_PREFIX}not-a-key"}
            response = admin.send(method, path, unknown, {}, key=key, rows=rows)
            if response.status_code != 401:
                failures.append(f"{method} {template}: unknown key got {response.status_code}")
        elif path.startswith("/studio"):
            for label, headers in (
                ("admin key", admin_key.credentials(path)[0]),
                ("sign-in token", admin.credentials("/api/v1")[0]),
            ):
                response = admin.send(method, path, headers, {}, key=key, rows=rows)
                if not sent_to_sign_in(response):
                    failures.append(f"{method} {template}: {label} got {response.status_code}")
        else:
            failures.append(f"{method} {template}: neither API nor studio, yet not public")
    assert not failures, "\n".join(failures)
