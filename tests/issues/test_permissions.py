"""Every issues and calendar route against every role: the table must name each route."""

import pytest

from app.issues.api import router
from tests.conftest import make_api_key

# Who may call each route: "read" (viewer and up, and issues:read keys), "write" (editors,
# admins), "approve" (approvers, admins), "write|approve" (either), "admin".
EXPECTED = {
    ("GET", "/api/v1/issues"): "read",
    ("POST", "/api/v1/issues"): "write",
    ("GET", "/api/v1/issues/{issue_id}"): "read",
    ("PATCH", "/api/v1/issues/{issue_id}"): "write",
    ("GET", "/api/v1/issues/{issue_id}/balance"): "read",
    ("GET", "/api/v1/issues/{issue_id}/suggestions"): "read",
    ("POST", "/api/v1/issues/{issue_id}/sections"): "write",
    ("PUT", "/api/v1/issues/{issue_id}/sections/order"): "write",
    ("PATCH", "/api/v1/issues/{issue_id}/sections/{section_id}"): "write",
    ("DELETE", "/api/v1/issues/{issue_id}/sections/{section_id}"): "write",
    ("PUT", "/api/v1/issues/{issue_id}/sections/{section_id}/order"): "write",
    ("POST", "/api/v1/issues/{issue_id}/excerpts"): "write",
    ("PATCH", "/api/v1/issues/{issue_id}/excerpts/{excerpt_id}"): "write",
    ("POST", "/api/v1/issues/{issue_id}/excerpts/{excerpt_id}/move"): "write",
    ("DELETE", "/api/v1/issues/{issue_id}/excerpts/{excerpt_id}"): "write",
    ("PUT", "/api/v1/issues/{issue_id}/excerpts/{excerpt_id}/framings/{segment_id}"): "write",
    ("DELETE", "/api/v1/issues/{issue_id}/excerpts/{excerpt_id}/framings/{segment_id}"): "write",
    ("POST", "/api/v1/issues/{issue_id}/submit"): "write",
    ("POST", "/api/v1/issues/{issue_id}/approve"): "approve",
    ("POST", "/api/v1/issues/{issue_id}/schedule"): "approve",
    ("POST", "/api/v1/issues/{issue_id}/unschedule"): "approve",
    ("POST", "/api/v1/issues/{issue_id}/return-to-draft"): "write|approve",
    ("POST", "/api/v1/issues/{issue_id}/cancel"): "approve",
    ("GET", "/api/v1/calendar"): "read",
    ("PUT", "/api/v1/calendar"): "admin",
    ("POST", "/api/v1/calendar/plan"): "write",
}
ALLOWED = {
    "read": {"viewer", "editor", "approver", "admin", "reader_key", "admin_key"},
    "write": {"editor", "admin", "admin_key"},
    "approve": {"approver", "admin", "admin_key"},
    "write|approve": {"editor", "approver", "admin", "admin_key"},
    "admin": {"admin", "admin_key"},
}
CALLERS = [
    "anonymous",
    "viewer",
    "editor",
    "approver",
    "admin",
    "reader_key",
    "news_key",
    "subscribers_key",
    "admin_key",
]


def routes() -> list[tuple[str, str]]:
    # path_format: the template as documented, without convertors ({id:int} is {id}).
    return sorted(
        (method, route.path_format) for route in router.routes for method in route.methods
    )


def test_the_table_names_every_route():
    assert sorted(EXPECTED) == routes()


@pytest.mark.parametrize("caller", CALLERS)
def test_each_caller_is_let_through_or_refused_as_the_table_says(client, engine, people, caller):
    headers = {}
    if caller in people:
        headers = people[caller].headers
    elif caller != "anonymous":
        scope = {
            "reader_key": "issues:read",
            "news_key": "news:write",
            "subscribers_key": "subscribers:write",
            "admin_key": "admin",
        }[caller]
        headers = {"Authorization": f"Bearer {make_api_key(engine, scope, name=caller)}"}
    for (method, path), rule in EXPECTED.items():
        # Ids that do not exist: a caller let through gets 404 or 422, never 401 or 403.
        url = path.format(issue_id=999999, section_id=999999, excerpt_id=999999, segment_id=999999)
        status = client.request(method, url, headers=headers, json={}).status_code
        if caller == "anonymous":
            assert status == 401, (method, path)
        elif caller in ALLOWED[rule]:
            assert status not in (401, 403), (caller, method, path, status)
        else:
            assert status == 403, (caller, method, path, status)
