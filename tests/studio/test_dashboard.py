"""The dashboard: next issues, inbox counts with stale warnings, the last issue's results."""

import io
import re
from datetime import UTC, datetime, timedelta

from app.accounts.models import Role
from app.accounts.principal import CLI_PRINCIPAL
from app.subscribers.importer import import_csv
from tests.delivery.factories import approved_issue, people, static_segment
from tests.studio import factories
from tests.studio.helpers import sign_in
from tests.studio.test_sending import start_send


def test_the_dashboard_shows_the_calendar_the_inbox_and_the_last_send(client, engine, session):
    factories.issue(session, title="Bulletin 1 December")
    factories.news_item(session, kind="win")
    factories.news_item(session, kind="incident",
                        occurred_at=datetime.now(UTC) - timedelta(days=40))  # fmt: skip
    session.commit()
    sent = approved_issue(engine, [static_segment(engine, "Pilots", people(engine, 3))])
    start_send(engine, sent)
    sign_in(client, engine, Role.viewer)

    page = client.get("/studio").text
    assert "Bulletin 1 December" in page and 'data-testid="upcoming-issue"' in page
    assert "1 win</a>" in page and "1 incident</a>" in page
    assert '<span class="badge stale">1 stale</span>' in page
    assert "Last issue: #" in page and "IT bulletin" in page
    assert "fewer than" in page  # 3 recipients: below the smallest cell reports show


def test_the_target_groups_are_counted_again_after_an_import(client, engine, session):
    factories.segment(
        session, "Berlin", {"all": [{"field": "location", "op": "eq", "value": "Berlin"}]}
    )
    factories.subscriber(session, attributes={"location": "Berlin"})
    session.commit()
    sign_in(client, engine, Role.viewer)
    page = client.get("/studio").text
    assert _target_group(page, "Berlin") == ["1", "1"] and 'data-testid="counted-at"' in page

    csv = "email,location,status\nb@example.com,Berlin,\nc@example.com,Berlin,unsubscribed\n"
    import_csv(session, binary=io.BytesIO(csv.encode()), actor=CLI_PRINCIPAL)
    session.commit()
    assert _target_group(client.get("/studio").text, "Berlin") == ["3", "2"]


def _target_group(page: str, name: str) -> list[str]:
    row = page[page.index(f"<td>{name}<div") :]
    return re.findall(r'<td class="num">(\d+)</td>', row[: row.index("</tr>")])
