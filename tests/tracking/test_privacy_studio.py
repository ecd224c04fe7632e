"""The privacy mode in the studio: shown to report readers, switched only by an admin."""

from sqlalchemy import select
from sqlmodel import Session

from app.accounts.models import Role
from app.audit.models import AuditEntry
from app.tracking.models import PrivacySetting
from tests.studio.helpers import csrf_of, sign_in


def mode_in_db(engine) -> str | None:
    with Session(engine) as session:
        setting = session.get(PrivacySetting, 1)
        return setting.mode if setting else None


def test_a_viewer_sees_the_mode_and_no_form(client, engine):
    sign_in(client, engine, Role.viewer)
    page = client.get("/studio/settings/privacy")
    assert page.status_code == 200
    assert "In force: aggregate" in page.text and "nothing links an open" in page.text
    assert "Save the privacy mode" not in page.text
    refused = client.post(
        "/studio/settings/privacy",
        data={"mode": "off", "csrf_token": csrf_of(client, "/studio/settings/privacy")},
    )
    assert refused.status_code == 403 and mode_in_db(engine) is None


def test_individual_needs_its_legal_basis_and_the_switch_is_audited(client, engine):
    sign_in(client, engine, Role.admin)
    token = csrf_of(client, "/studio/settings/privacy")
    missing = client.post(
        "/studio/settings/privacy", data={"mode": "individual", "csrf_token": token}
    )
    assert missing.status_code == 422
    assert 'aria-invalid="true"' in missing.text and "needs its legal basis" in missing.text
    assert mode_in_db(engine) is None

    basis = "Works-council agreement 2026-07, section 4"
    done = client.post(
        "/studio/settings/privacy",
        data={"mode": "individual", "legal_basis": basis, "csrf_token": token},
        follow_redirects=True,
    )
    assert done.status_code == 200
    assert "In force: individual" in done.text and basis in done.text
    assert mode_in_db(engine) == "individual"
    with Session(engine) as session:
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.action == "privacy.changed")
        ).all()
    assert actions == ["privacy.changed"]


def test_the_switch_needs_the_csrf_token(client, engine):
    sign_in(client, engine, Role.admin)
    client.get("/studio/settings/privacy")
    refused = client.post("/studio/settings/privacy", data={"mode": "off"})
    assert refused.status_code == 403 and mode_in_db(engine) is None
