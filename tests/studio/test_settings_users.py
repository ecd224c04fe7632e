"""People and roles in the settings, without a browser: create (password set or generated
and shown once), change a role, deactivate, new password; the last admin stays; sessions end."""

from sqlalchemy import func, select

from app.accounts import service as accounts
from app.accounts.models import Role, User, UserSession
from app.audit.models import AuditEntry
from tests.conftest import make_user, make_user_token
from tests.studio.helpers import csrf_of, htmx, sign_in

USERS = "/studio/settings/users"
SECRET_FIELD = 'id="one-time-secret"'


def shown_secret(html: str) -> str:
    start = html.index(SECRET_FIELD)
    value = html.index('value="', start) + len('value="')
    return html[value : html.index('"', value)]


def sessions_of(session, user_id: int) -> int:
    session.expire_all()
    return session.scalar(
        select(func.count()).select_from(UserSession).where(UserSession.user_id == user_id)
    )


def actions(session, action: str) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_an_admin_adds_a_person_with_a_generated_password_shown_once(client, engine, session):
    sign_in(client, engine, Role.admin)
    token = csrf_of(client, USERS)
    form = {
        "csrf_token": token,
        "email": " New.Editor@Example.com ",
        "name": "Nina",
        "role": "editor",
        "initial": "generate",
    }
    created = client.post(USERS, data=form)
    assert created.status_code == 200, created.text
    assert created.headers["cache-control"] == "no-store"
    password = shown_secret(created.text)
    assert len(password) >= accounts.MIN_PASSWORD_LENGTH and "Shown once" in created.text

    user = session.scalar(select(User).where(User.email == "new.editor@example.com"))
    assert (user.name, user.role, user.is_active) == ("Nina", "editor", True)
    assert password not in user.password_hash
    assert (
        accounts.log_in(
            session,
            email=user.email,
            password=password,
            client_address="t",
            max_attempts=5,
            max_age_seconds=60,
        )
        is not None
    )
    [entry] = actions(session, "user.created")
    assert password not in str(entry.details)

    again = client.get(USERS).text
    assert "new.editor@example.com" in again
    assert password not in again and SECRET_FIELD not in again


def test_an_admin_may_set_the_initial_password_and_it_is_never_shown(client, engine, session):
    sign_in(client, engine, Role.admin)
    form = {
        "csrf_token": csrf_of(client, USERS),
        "email": "v@example.com",
        "role": "viewer",
        "initial": "typed",
        "password": "a long enough secret",
    }
    created = client.post(USERS, data=form, headers=htmx())
    assert created.status_code == 200 and SECRET_FIELD not in created.text
    assert "a long enough secret" not in created.text
    assert created.text.lstrip().startswith('<div id="users">')  # the fragment for htmx
    user = session.scalar(select(User).where(User.email == "v@example.com"))
    assert user.role == "viewer"


def test_bad_input_is_reported_beside_the_field_and_keeps_what_was_typed(client, engine, session):
    sign_in(client, engine, Role.admin)
    token = csrf_of(client, USERS)
    short = client.post(
        USERS,
        data={
            "csrf_token": token,
            "email": "x@example.com",
            "role": "editor",
            "initial": "typed",
            "password": "short",
        },
    )
    assert short.status_code == 422
    assert 'id="new-password-error"' in short.text and "at least 12 characters" in short.text
    assert 'value="x@example.com"' in short.text

    bad = client.post(
        USERS, data={"csrf_token": token, "email": "not an address", "role": "editor"}
    )
    assert bad.status_code == 422 and 'id="new-email-error"' in bad.text
    no_role = client.post(
        USERS, data={"csrf_token": token, "email": "y@example.com", "role": "boss"}
    )
    assert no_role.status_code == 422 and 'id="new-role-error"' in no_role.text

    taken = client.post(
        USERS, data={"csrf_token": token, "email": "admin@example.com", "role": "editor"}
    )
    assert taken.status_code == 422 and "already taken" in taken.text
    assert session.scalar(select(func.count()).select_from(User)) == 1


def test_a_role_change_ends_the_persons_sessions_and_is_audited(client, engine, session):
    sign_in(client, engine, Role.admin)
    editor = make_user(engine, email="ed@example.com", role=Role.editor)
    make_user_token(engine, editor)
    make_user_token(engine, editor)
    answer = client.post(
        f"{USERS}/{editor}/role",
        data={"csrf_token": csrf_of(client), "role": "approver"},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"] == USERS
    assert session.get(User, editor).role == "approver"
    assert sessions_of(session, editor) == 0
    [entry] = actions(session, "user.role_changed")
    assert entry.details["from"] == "editor" and entry.details["to"] == "approver"


def test_the_last_active_admin_can_be_neither_demoted_nor_deactivated(client, engine, session):
    admin = sign_in(client, engine, Role.admin)
    token = csrf_of(client)
    demoted = client.post(
        f"{USERS}/{admin}/role", data={"csrf_token": token, "role": "viewer"}, headers=htmx()
    )
    assert demoted.status_code == 422
    assert "last active admin" in demoted.text and f'id="u{admin}-role-error"' in demoted.text
    assert session.get(User, admin).role == "admin"

    other = make_user(engine, email="other@example.com", role=Role.admin)
    off = client.post(f"{USERS}/{other}/active", data={"csrf_token": token, "active": "false"})
    assert off.status_code == 200  # followed the redirect back to the list
    assert "deactivated" in off.text
    session.expire_all()
    assert session.get(User, other).is_active is False
    # The only active admin left is the signer-in: they may not go either.
    again = client.post(f"{USERS}/{admin}/role", data={"csrf_token": token, "role": "editor"})
    assert again.status_code == 422 and "last active admin" in again.text
    myself = client.post(f"{USERS}/{admin}/active", data={"csrf_token": token, "active": "false"})
    assert myself.status_code == 422 and "cannot deactivate yourself" in myself.text
    session.expire_all()
    assert session.get(User, admin).is_active and session.get(User, admin).role == "admin"


def test_deactivating_signs_the_person_out_and_reactivating_lets_them_back(client, engine, session):
    sign_in(client, engine, Role.admin)
    editor = make_user(engine, email="ed@example.com", role=Role.editor)
    editor_token = make_user_token(engine, editor)
    token = csrf_of(client)
    client.post(f"{USERS}/{editor}/active", data={"csrf_token": token, "active": "false"})
    assert sessions_of(session, editor) == 0
    assert accounts.user_for_session_token(session, token=editor_token) is None
    assert len(actions(session, "user.deactivated")) == 1
    listing = client.get(USERS).text
    assert "Reactivate" in listing

    client.post(f"{USERS}/{editor}/active", data={"csrf_token": token, "active": "true"})
    session.expire_all()
    assert session.get(User, editor).is_active is True
    assert len(actions(session, "user.reactivated")) == 1


def test_a_new_password_is_shown_once_and_ends_the_sessions(client, engine, session):
    sign_in(client, engine, Role.admin)
    editor = make_user(engine, email="ed@example.com", role=Role.editor)
    make_user_token(engine, editor)
    answer = client.post(f"{USERS}/{editor}/password", data={"csrf_token": csrf_of(client)})
    password = shown_secret(answer.text)
    assert sessions_of(session, editor) == 0
    assert accounts.log_in(
        session,
        email="ed@example.com",
        password=password,
        client_address="t",
        max_attempts=5,
        max_age_seconds=60,
    )
    assert password not in client.get(USERS).text
    assert len(actions(session, "user.password_reset")) == 1


def test_an_admin_who_steps_down_keeps_this_session_but_loses_the_settings(client, engine, session):
    me = sign_in(client, engine, Role.admin)
    make_user(engine, email="other@example.com", role=Role.admin)
    elsewhere = make_user_token(engine, me)
    answer = client.post(
        f"{USERS}/{me}/role",
        data={"csrf_token": csrf_of(client), "role": "editor"},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/studio"
    assert sessions_of(session, me) == 1  # this one; the one elsewhere ended
    assert accounts.user_for_session_token(session, token=elsewhere) is None
    assert client.get("/studio").status_code == 200
    assert client.get(USERS).status_code == 403
