"""Sending in the studio without a browser: the confirmation's audience size, who may send,
the progress fragment that polls while a send runs and stops when it is over."""

from sqlmodel import Session

from app.accounts.models import Role
from app.accounts.principal import CLI_PRINCIPAL
from app.delivery import service as sending
from app.delivery.models import RunState
from app.issues.models import Issue
from tests.delivery.factories import approved_issue, people, static_segment
from tests.studio.helpers import csrf_of, htmx, sign_in


def an_approved_issue(engine, audience: int = 3) -> int:
    members = people(engine, audience) + people(engine, 1, prefix="gone", status="unsubscribed")
    return approved_issue(engine, [static_segment(engine, "Readers", members)])


def start_send(engine, issue_id: int, state: RunState | None = None) -> None:
    with Session(engine) as db:
        run = sending.start(db, issue=db.get(Issue, issue_id), actor=CLI_PRINCIPAL)
        sending.freeze_audience(db, run=run)
        if state:
            run.state = state
        db.commit()


def test_an_approver_is_offered_the_send_naming_the_audience_size(client, engine):
    issue_id = an_approved_issue(engine)
    sign_in(client, engine, Role.approver)
    page = client.get(f"/studio/issues/{issue_id}/sending").text
    assert 'data-testid="audience-size">3<' in page
    assert 'hx-confirm="Send issue #1 to 3 subscribers now?"' in page
    assert "Send to 3 subscribers now" in client.get(f"/studio/issues/{issue_id}").text


def test_a_viewer_sees_no_send_or_pause_button_and_is_refused(client, engine):
    issue_id = an_approved_issue(engine)
    sign_in(client, engine, Role.viewer)
    page = client.get(f"/studio/issues/{issue_id}/sending").text
    assert "audience-size" in page and "/send" not in page
    token = csrf_of(client)
    assert client.post(f"/studio/issues/{issue_id}/send", headers={"X-CSRF-Token": token}
                       ).status_code == 403  # fmt: skip
    start_send(engine, issue_id)
    running = client.get(f"/studio/issues/{issue_id}/sending").text
    assert "Sending…" in running and "Pause" not in running and "Cancel send" not in running
    for action in ("pause", "resume", "cancel"):
        refused = client.post(
            f"/studio/issues/{issue_id}/send/{action}", headers={"X-CSRF-Token": token}
        )
        assert refused.status_code == 403


def test_the_fragment_polls_while_sending_and_stops_when_over(client, engine):
    issue_id = an_approved_issue(engine)
    start_send(engine, issue_id)
    sign_in(client, engine, Role.approver)
    url = f"/studio/issues/{issue_id}/sending/progress"
    running = client.get(url, headers=htmx()).text
    assert 'hx-trigger="every 2s"' in running and "<html" not in running
    assert 'data-testid="count-queued">3<' in running

    token = csrf_of(client)
    paused = client.post(
        f"/studio/issues/{issue_id}/send/pause", headers=htmx(**{"X-CSRF-Token": token})
    )
    assert paused.status_code == 200 and "Paused" in paused.text
    assert "every 2s" not in paused.text and "Resume" in paused.text

    start_send(engine, issue_id, RunState.done)
    done = client.get(url, headers=htmx()).text
    assert "Sent." in done and "hx-trigger" not in done


def test_cancel_from_the_studio(client, engine):
    issue_id = an_approved_issue(engine)
    start_send(engine, issue_id, RunState.paused)
    sign_in(client, engine, Role.approver)
    token = csrf_of(client)
    cancelled = client.post(
        f"/studio/issues/{issue_id}/send/cancel", headers=htmx(**{"X-CSRF-Token": token})
    )
    assert "Cancelled." in cancelled.text and 'data-testid="count-excluded">3<' in cancelled.text
