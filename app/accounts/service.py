"""Users, passwords, studio sessions, login throttling and API keys."""

import hashlib
import hmac
import math
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlmodel import Session

from app.accounts.models import ApiKey, ApiKeyCreate, LoginAttempt, Role, User, UserSession
from app.accounts.principal import ROLE_SCOPES, Principal
from app.audit.service import record
from app.db import utcnow
from app.errors import Conflict, Invalid, NotFound, TooManyRequests, Unauthorized
from app.subscribers.normalize import normalize_email

API_KEY_PREFIX = "dbk_"
MIN_PASSWORD_LENGTH = 12
LOGIN_WINDOW = timedelta(minutes=1)
_hasher = PasswordHasher()


def sha256_hex(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def generate_password() -> str:
    return secrets.token_urlsafe(15)


# --- users -------------------------------------------------------------------------------


def create_user(
    session: Session, *, email: str, role: Role, password: str, name: str = "", actor: Principal
) -> User:
    """A studio user with an argon2-hashed password."""
    try:
        email = normalize_email(email)
    except ValueError as exc:
        raise Invalid("email", str(exc)) from exc
    _check_password_strength(password)
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(
            f"user {email} exists already", errors=[{"field": "email", "reason": "already taken"}]
        )
    user = User(email=email, name=name, role=Role(role), password_hash=_hasher.hash(password))
    session.add(user)
    session.flush()
    record(
        session,
        actor=actor,
        action="user.created",
        object_type="user",
        object_id=user.id,
        details={"email": email, "role": user.role},
    )
    return user


def admin_exists(session: Session) -> bool:
    return (
        session.scalar(select(User.id).where(User.role == Role.admin, User.is_active)) is not None
    )


def change_password(
    session: Session,
    *,
    user: User,
    current_password: str,
    new_password: str,
    keep_session_id: int | None,
) -> None:
    """Set a new password and end every other session of the user."""
    if not _verify(user.password_hash, current_password):
        raise Invalid("current_password", "the current password is not correct")
    _check_password_strength(new_password)
    user.password_hash = _hasher.hash(new_password)
    user.password_changed_at = utcnow()
    session.add(user)
    ended = delete(UserSession).where(UserSession.user_id == user.id)
    if keep_session_id is not None:
        ended = ended.where(UserSession.id != keep_session_id)
    session.execute(ended)
    session.flush()
    record(
        session,
        actor=principal_for_user(user),
        action="user.password_changed",
        object_type="user",
        object_id=user.id,
    )


def list_users(session: Session) -> list[User]:
    """Every studio user, active ones first, then by email."""
    return list(session.scalars(select(User).order_by(User.is_active.desc(), User.email)))


def get_user(session: Session, *, user_id: int) -> User:
    """Load a user or raise NotFound."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} does not exist")
    return user


def change_role(
    session: Session, *, user: User, role: Role, actor: Principal, keep_session_id: int | None
) -> User:
    """Give the user another role and end their sessions (they sign in again with it)."""
    role = Role(role)
    if role == user.role:
        return user
    if role != Role.admin:
        _keep_an_admin(session, user=user, field="role", doing="demote")
    before = user.role
    user.role = role
    session.add(user)
    end_sessions(session, user_id=user.id, keep_session_id=keep_session_id)
    record(
        session,
        actor=actor,
        action="user.role_changed",
        object_type="user",
        object_id=user.id,
        details={"email": user.email, "from": before, "to": role},
    )
    return user


def set_active(session: Session, *, user: User, is_active: bool, actor: Principal) -> User:
    """Deactivate (no sign-in, sessions ended, history kept) or reactivate a user."""
    if is_active == user.is_active:
        return user
    if not is_active:
        if actor.kind == "user" and actor.id == user.id:
            raise Conflict(
                "you cannot deactivate yourself; ask another admin",
                errors=[{"field": "is_active", "reason": "you cannot deactivate yourself"}],
            )
        _keep_an_admin(session, user=user, field="is_active", doing="deactivate")
        end_sessions(session, user_id=user.id, keep_session_id=None)
    user.is_active = is_active
    session.add(user)
    session.flush()
    record(
        session,
        actor=actor,
        action="user.reactivated" if is_active else "user.deactivated",
        object_type="user",
        object_id=user.id,
        details={"email": user.email},
    )
    return user


def reset_password(session: Session, *, user: User, password: str, actor: Principal) -> None:
    """An admin sets a user's password; every session of that user ends."""
    _check_password_strength(password)
    user.password_hash = _hasher.hash(password)
    user.password_changed_at = utcnow()
    session.add(user)
    end_sessions(session, user_id=user.id, keep_session_id=None)
    record(
        session,
        actor=actor,
        action="user.password_reset",
        object_type="user",
        object_id=user.id,
        details={"email": user.email},
    )


def end_sessions(session: Session, *, user_id: int, keep_session_id: int | None) -> None:
    """Sign the user out everywhere (studio cookies and API tokens), but for one session."""
    ended = delete(UserSession).where(UserSession.user_id == user_id)
    if keep_session_id is not None:
        ended = ended.where(UserSession.id != keep_session_id)
    session.execute(ended)
    session.flush()


def _keep_an_admin(session: Session, *, user: User, field: str, doing: str) -> None:
    # Locked on PostgreSQL, so two admins demoting each other at once cannot both succeed.
    if user.role != Role.admin or not user.is_active:
        return
    admins = session.scalars(
        select(User.id).where(User.role == Role.admin, User.is_active).with_for_update()
    ).all()
    if list(admins) == [user.id]:
        reason = f"{user.email} is the last active admin; make someone else admin first"
        raise Conflict(
            f"cannot {doing} the last active admin",
            errors=[{"field": field, "reason": reason}],
        )


def principal_for_user(user: User) -> Principal:
    role = Role(user.role)
    return Principal(kind="user", id=user.id, label=user.email, scopes=ROLE_SCOPES[role], role=role)


def _check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid("password", f"use at least {MIN_PASSWORD_LENGTH} characters")


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# --- login and sessions ------------------------------------------------------------------


def log_in(
    session: Session,
    *,
    email: str,
    password: str,
    client_address: str,
    max_attempts: int,
    max_age_seconds: int,
) -> tuple[User, str] | None:
    """Check the throttle and the password; the user and a new session token, or None.

    A failed attempt is recorded and returned as None rather than raised, so that the
    caller's transaction commits it: the throttle must count it.
    """
    email = email.strip().lower()
    since = utcnow() - LOGIN_WINDOW
    # Attempts older than the window count for nothing; drop them so the table stays small.
    session.execute(delete(LoginAttempt).where(LoginAttempt.attempted_at <= since))
    recent = list(
        session.scalars(
            select(LoginAttempt.attempted_at)
            .where(
                LoginAttempt.email == email,
                LoginAttempt.client_address == client_address,
                LoginAttempt.attempted_at > since,
            )
            .order_by(LoginAttempt.attempted_at)
        )
    )
    if len(recent) >= max_attempts:
        wait = (recent[0] + LOGIN_WINDOW - utcnow()).total_seconds()
        raise TooManyRequests(
            "too many login attempts; try again in a minute",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
    user = session.scalar(select(User).where(User.email == email))
    # Hash even for unknown users, so the response time does not reveal who has an account.
    valid = _verify(user.password_hash if user else _DUMMY_HASH, password)
    if user is None or not valid or not user.is_active:
        session.add(LoginAttempt(email=email, client_address=client_address))
        session.flush()
        return None
    session.execute(
        delete(LoginAttempt).where(
            LoginAttempt.email == email, LoginAttempt.client_address == client_address
        )
    )
    token = secrets.token_urlsafe(32)
    session.add(
        UserSession(
            user_id=user.id,
            token_hash=sha256_hex(token),
            expires_at=utcnow() + timedelta(seconds=max_age_seconds),
            client_address=client_address,
        )
    )
    session.flush()
    record(
        session,
        actor=principal_for_user(user),
        action="user.logged_in",
        object_type="user",
        object_id=user.id,
    )
    return user, token


_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def user_for_session_token(session: Session, *, token: str) -> tuple[User, UserSession] | None:
    """The active user behind a session cookie, or None when it is unknown or expired."""
    row = session.execute(
        select(User, UserSession)
        .join(UserSession, UserSession.user_id == User.id)
        .where(
            UserSession.token_hash == sha256_hex(token),
            UserSession.expires_at > utcnow(),
            User.is_active,
        )
    ).first()
    return (row[0], row[1]) if row else None


def principal_for_session_token(session: Session, *, token: str) -> Principal:
    """A signed-in user calling the API with their session token; Unauthorized otherwise."""
    found = user_for_session_token(session, token=token)
    if found is None:
        raise Unauthorized(
            "the token is not valid or has expired; sign in again",
            headers={"WWW-Authenticate": 'Bearer realm="drumbeat"'},
        )
    return principal_for_user(found[0])


def log_out(session: Session, *, token: str) -> None:
    session.execute(delete(UserSession).where(UserSession.token_hash == sha256_hex(token)))


# --- API keys ----------------------------------------------------------------------------


def create_api_key(session: Session, *, data: ApiKeyCreate, actor: Principal) -> tuple[ApiKey, str]:
    """A new key; the plaintext is returned once and only its SHA-256 is stored."""
    secret = API_KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        name=data.name.strip(),
        display_prefix=secret[:12],
        key_hash=sha256_hex(secret),
        scopes=sorted({s.value for s in data.scopes}),
        created_by=actor.label,
    )
    session.add(key)
    session.flush()
    record(
        session,
        actor=actor,
        action="api_key.created",
        object_type="api_key",
        object_id=key.id,
        details={"name": key.name, "scopes": key.scopes},
    )
    return key, secret


def principal_for_api_key(session: Session, *, secret: str) -> Principal:
    """The key's principal; Unauthorized when unknown or revoked."""
    digest = sha256_hex(secret)
    key = session.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
    # The lookup is by hash; compare again in constant time so no timing reveals a near match.
    if key is None or not hmac.compare_digest(key.key_hash, digest) or key.revoked_at is not None:
        raise Unauthorized(
            "the API key is not valid", headers={"WWW-Authenticate": 'Bearer realm="drumbeat"'}
        )
    now = utcnow()
    # Touching last_used_at on every call would make each read a write; once a minute is enough.
    if key.last_used_at is None or now - key.last_used_at > timedelta(minutes=1):
        key.last_used_at = now
        session.add(key)
    return Principal(
        kind="api_key",
        id=key.id,
        label=f"api key {key.name} ({key.display_prefix})",
        scopes=frozenset(key.scopes),
    )


def list_api_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def revoke_api_key(session: Session, *, key_id: int, actor: Principal) -> ApiKey:
    """Revoke a key; its next call gets 401."""
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"API key {key_id} does not exist")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.add(key)
        session.flush()
        record(
            session,
            actor=actor,
            action="api_key.revoked",
            object_type="api_key",
            object_id=key.id,
            details={"name": key.name},
        )
    return key
