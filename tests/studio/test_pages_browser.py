"""Every studio page in Chromium: no serious or critical axe-core finding, no console error,
and a screenshot at 1280 and 375 px in var/screenshots/."""

import pytest
from sqlalchemy import select

from app.accounts.models import Role
from app.demo import newsroom, seed
from app.issues.models import Excerpt, Issue
from app.segments.models import Segment
from app.subscribers.models import Subscriber
from tests.delivery.factories import approved_issue, people, static_segment
from tests.studio.conftest import screenshot, serious_violations
from tests.studio.test_analytics import bulletin
from tests.studio.test_outbox import newest_outbox_key
from tests.studio.test_sending import start_send
from tests.studio.test_settings_webhooks import endpoint

pytestmark = pytest.mark.browser


def demo(session, engine) -> dict[str, int]:
    seed.load(session)
    newsroom.load(session)
    session.commit()
    sent = approved_issue(engine, [static_segment(engine, "Pilot group", people(engine, 3))])
    start_send(engine, sent)
    drafts = select(Excerpt).join(Issue).where(Issue.status == "draft").order_by(Excerpt.id)
    excerpt = session.scalars(drafts).first()  # the editor opened on one of its excerpts
    panel = static_segment(engine, "Panel", people(engine, 2, prefix="a"))
    return {
        "edited": excerpt.issue_id,
        "excerpt": excerpt.id,
        "approved": approved_issue(engine, [panel]),
        "issue": session.scalar(select(Issue.id).where(Issue.status == "draft").limit(1)),
        "sending": sent,
        "subscriber": session.scalar(select(Subscriber.id).limit(1)),
        "segment": session.scalar(select(Segment.id).where(Segment.name == "Finance in Berlin")),
        "webhook": endpoint(session).id,
    }


PAGES = (
    ("dashboard", "/studio"),
    ("inbox", "/studio/inbox"),
    ("inbox-stale", "/studio/inbox?stale=stale"),
    ("inbox-new", "/studio/inbox/new"),
    ("issues", "/studio/issues"),
    ("issue", "/studio/issues/{issue}"),
    ("issue-edit-excerpt", "/studio/issues/{edited}/excerpts/{excerpt}/edit"),
    ("issue-framings", "/studio/issues/{edited}/excerpts/{excerpt}/framings"),
    ("issue-approved", "/studio/issues/{approved}"),
    ("sending", "/studio/issues/{sending}/sending"),
    ("subscribers", "/studio/subscribers"),
    ("subscriber", "/studio/subscribers/{subscriber}"),
    ("subscribers-import", "/studio/subscribers/import"),
    ("segments", "/studio/segments"),
    ("segment-new", "/studio/segments/new"),
    ("segment", "/studio/segments/{segment}"),
    ("feedback", "/studio/feedback"),
    ("analytics", "/studio/analytics"),
    ("analytics-issue", "/studio/issues/{analytics}/analytics"),
    ("outbox", "/studio/outbox"),
    ("outbox-message", "/studio/outbox/{message}"),
    ("settings", "/studio/settings"),
    ("privacy", "/studio/settings/privacy"),
    ("settings-users", "/studio/settings/users"),
    ("settings-api-keys", "/studio/settings/api-keys"),
    ("settings-mail", "/studio/settings/mail"),
    ("settings-cadence", "/studio/settings/cadence"),
    ("settings-webhooks", "/studio/settings/webhooks"),
    ("settings-webhook", "/studio/settings/webhooks/{webhook}"),
    ("password", "/studio/account/password"),
)


def test_every_studio_page_is_accessible_and_photographed(
    studio_as, live_server, engine, session, axe_path, app, settings
):
    ids = demo(session, engine)
    ids |= {"analytics": bulletin(engine), "message": newest_outbox_key(app, engine, settings)}
    page = studio_as(Role.admin, bypass_csp=True)  # axe-core is injected: see conftest
    findings = {}
    for name, path in PAGES:
        response = page.goto(live_server + path.format(**ids))
        assert response.status == 200, (path, response.status)
        page.wait_for_load_state("networkidle")
        findings[name] = serious_violations(page, axe_path)
        screenshot(page, name)
    assert not any(findings.values()), findings
    assert not page.problems, page.problems


def test_the_sign_in_page_and_a_form_with_errors_are_accessible(
    browser, live_server, studio_as, axe_path
):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    try:
        login = context.new_page()
        login.goto(f"{live_server}/studio/login")
        assert serious_violations(login, axe_path) == []
        screenshot(login, "login")
    finally:
        context.close()

    page = studio_as(Role.editor, bypass_csp=True)
    page.goto(f"{live_server}/studio/inbox/new")
    page.get_by_label("Link").fill("not a link")
    page.get_by_role("button", name="Add to the inbox").click()
    page.get_by_role("alert").wait_for()
    assert serious_violations(page, axe_path) == []
    screenshot(page, "inbox-new-errors")
