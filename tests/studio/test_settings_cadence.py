"""The publishing cadence in the settings: saved and planned at once; bad values beside
their field, and nothing stored changes."""

from datetime import date

from sqlalchemy import select

from app.accounts.models import Role
from app.issues import calendar
from app.issues.models import CalendarSetting, Issue
from tests.studio import factories
from tests.studio.helpers import csrf_of, htmx, sign_in

CADENCE = "/studio/settings/cadence"


def form(token: str, **changes) -> dict:
    return {
        "csrf_token": token,
        "cadence_days": "7",
        "weekday": "0",
        "plan_ahead": "2",
        "title_template": "Weekly IT news #{number}",
        "default_owner_id": "",
        **changes,
    }


def test_the_cadence_is_saved_and_the_issues_it_calls_for_are_planned(client, engine, session):
    segment = factories.segment(
        session, "All staff", {"all": [{"field": "status", "op": "eq", "value": "active"}]}
    )
    session.commit()
    admin = sign_in(client, engine, Role.admin)
    page = client.get(CADENCE).text
    assert 'value="14"' in page and "Thursday</option>" in page  # the defaults
    saved = client.post(
        CADENCE,
        data=form(
            csrf_of(client, CADENCE),
            default_owner_id=str(admin),
            default_segment_ids=[str(segment.id)],
        ),
        follow_redirects=False,
    )
    assert saved.status_code == 303 and saved.headers["location"] == CADENCE
    setting = session.scalar(select(CalendarSetting))
    assert (setting.cadence_days, setting.weekday, setting.plan_ahead) == (7, 0, 2)
    assert setting.default_owner_id == admin and setting.default_segment_ids == [segment.id]
    planned = list(
        session.scalars(
            select(Issue).where(Issue.planned_date >= date.today()).order_by(Issue.planned_date)
        )
    )
    assert len(planned) == 2 and all(i.planned_date.weekday() == 0 for i in planned)
    assert planned[0].title.startswith("Weekly IT news #")
    page = client.get(CADENCE).text
    assert 'value="7"' in page and planned[0].title in page


def test_bad_values_are_reported_beside_their_field_and_nothing_changes(client, engine, session):
    sign_in(client, engine, Role.admin)
    token = csrf_of(client, CADENCE)
    bad = client.post(
        CADENCE,
        data=form(token, cadence_days="0", plan_ahead="lots", title_template="  "),
        headers=htmx(),
    )
    assert bad.status_code == 422
    assert 'id="cadence_days-error"' in bad.text and "greater than or equal to 1" in bad.text
    assert 'id="plan_ahead-error"' in bad.text and "enter a whole number" in bad.text
    assert 'id="title_template-error"' in bad.text
    assert 'value="lots"' in bad.text  # what was typed stays
    unknown = client.post(CADENCE, data=form(token, default_owner_id="9999"))
    assert unknown.status_code == 422 and 'id="default_owner_id-error"' in unknown.text
    assert "user 9999 does not exist" in unknown.text
    assert session.scalar(select(CalendarSetting)) is None
    assert calendar.current(session).cadence_days == 14
