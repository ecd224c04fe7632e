"""Times in the organisation's zone (DRUMBEAT_TIMEZONE): an editor in Berlin types 09:00 and
the issue goes out at 09:00 Berlin time, and every page says which zone a time is in."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from app.accounts.models import Role
from app.issues.models import Issue
from app.web.localtime import format_local, parse_local
from tests.delivery.factories import issue_status
from tests.studio.factories import an_approved_issue
from tests.studio.helpers import csrf_of, htmx, sign_in

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def in_berlin(app):
    before = app.state.settings
    app.state.settings = before.model_copy(update={"timezone": "Europe/Berlin"})
    yield
    app.state.settings = before


def schedule(client, issue_id: int, send_at: str):
    return client.post(f"/studio/issues/{issue_id}/schedule", data={"send_at": send_at},
                       headers=htmx(**{"X-CSRF-Token": csrf_of(client)}))  # fmt: skip


@pytest.mark.parametrize(
    ("typed", "utc", "shown"),
    [
        ("2027-01-12T09:00", datetime(2027, 1, 12, 8, 0, tzinfo=UTC), "2027-01-12 09:00 CET"),
        ("2027-07-13T09:00", datetime(2027, 7, 13, 7, 0, tzinfo=UTC), "2027-07-13 09:00 CEST"),
    ],
)
def test_a_time_typed_in_berlin_goes_out_then(client, engine, in_berlin, typed, utc, shown):
    issue_id = an_approved_issue(engine)
    sign_in(client, engine, Role.approver)
    assert "Send at (Europe/Berlin time)" in client.get(f"/studio/issues/{issue_id}").text

    assert schedule(client, issue_id, typed).status_code == 204
    with Session(engine) as db:
        assert db.get(Issue, issue_id).send_at.replace(tzinfo=UTC) == utc
    assert shown in client.get(f"/studio/issues/{issue_id}").text


def test_a_time_the_clocks_skip_is_refused_in_place(client, engine, in_berlin):
    issue_id = an_approved_issue(engine)
    sign_in(client, engine, Role.approver)
    answer = schedule(client, issue_id, "2027-03-28T02:30")
    assert answer.status_code == 422
    assert "2027-03-28 02:30 does not exist in Europe/Berlin" in answer.text
    assert issue_status(engine, issue_id) == "approved"


def test_the_hour_the_clocks_repeat_is_read_as_the_first():
    # 02:30 happens twice on 31 October 2027 in Berlin: the first time is still summer time.
    assert parse_local("2027-10-31T02:30", BERLIN).astimezone(UTC) == datetime(
        2027, 10, 31, 0, 30, tzinfo=UTC
    )


def test_an_explicit_offset_is_kept_and_stored_times_are_utc():
    assert parse_local("2027-01-12T09:00+05:30", BERLIN).utcoffset().total_seconds() == 19800
    # A time without a zone (a mail's Date header may have none) is UTC.
    assert format_local(datetime(2026, 12, 31, 23, 30), BERLIN, "%d %B %Y") == "01 January 2027 CET"
    assert format_local(datetime(2026, 12, 31, 23, 30), ZoneInfo("UTC")) == "2026-12-31 23:30 UTC"
