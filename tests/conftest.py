"""Shared fixtures: real, migrated SQLite and PostgreSQL databases, the app, API clients.

Every test that takes `db_url` (directly or through `client`, `session`, ...) runs once on
SQLite and once on PostgreSQL. Without a reachable PostgreSQL those runs skip with a reason;
with DRUMBEAT_REQUIRE_SERVICES=1 (set in CI) every skip becomes a failure.
"""

import asyncio
import os
import secrets
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

import pytest
from alembic import command
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session

from app.accounts import service as accounts
from app.accounts.models import ApiKeyCreate, Role, Scope, User, UserSession
from app.accounts.principal import CLI_PRINCIPAL
from app.cli import alembic_config
from app.config import Settings
from app.db import metadata
from app.main import create_app

pytest_plugins = ["tests.browser", "tests.receiver", "tests.smtp_servers"]

POSTGRES_URL = os.environ.get(
    "DRUMBEAT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_SERVICES = os.environ.get("DRUMBEAT_REQUIRE_SERVICES") == "1"
TEST_PASSWORD = "correct horse battery"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_SERVICES and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped, but DRUMBEAT_REQUIRE_SERVICES=1 forbids skips: {reason}"


def migrate(url: str) -> None:
    config = alembic_config(url)
    config.attributes["configure_logger"] = False
    command.upgrade(config, "heads")


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    try:
        probe = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        with probe.connect() as connection:
            connection.execute(text("SELECT 1"))
        probe.dispose()
    except Exception as exc:
        pytest.skip(f"PostgreSQL not reachable at {make_url(POSTGRES_URL).host}: {exc}")
    return POSTGRES_URL


def _fresh_postgres_database(server_url: str) -> Iterator[str]:
    name = f"drumbeat_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def db_url(request, tmp_path_factory) -> Iterator[str]:
    """A migrated database of each kind, shared by the session; tables are emptied per test."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'drumbeat.db'}"
        migrate(url)
        yield url
        return
    server_url = request.getfixturevalue("postgres_server_url")
    database = _fresh_postgres_database(server_url)
    url = next(database)
    migrate(url)
    yield url
    next(database, None)


@pytest.fixture(scope="session")
def settings(db_url, tmp_path_factory) -> Settings:
    var_dir = tmp_path_factory.mktemp("var")
    return Settings(
        database_url=db_url,
        secret_key="test-secret-" + secrets.token_hex(8),
        var_dir=var_dir,
        base_url="http://testserver",
        mail_url=f"maildir://{var_dir / 'outbox'}",
    )


@pytest.fixture(scope="session")
def app(settings):
    application = create_app(settings)
    yield application
    application.state.engine.dispose()


@pytest.fixture
def engine(app) -> Iterator[Engine]:
    yield app.state.engine
    # Each test starts from empty tables (the schema stays, as migrated).
    with app.state.engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(table.delete())


@pytest.fixture
def session(engine) -> Iterator[Session]:
    """A session for arranging and checking; commit what the app should see."""
    with Session(engine, expire_on_commit=False) as db_session:
        yield db_session


@pytest.fixture
def client(app, engine) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client


def make_api_key(engine: Engine, *scopes: str, name: str = "test key") -> str:
    with Session(engine) as db_session:
        _key, secret = accounts.create_api_key(
            db_session,
            data=ApiKeyCreate(name=name, scopes=[Scope(s) for s in scopes]),
            actor=CLI_PRINCIPAL,
        )
        db_session.commit()
    return secret


def run_coroutine(coroutine: Coroutine):
    """asyncio.run, also from a test whose thread already runs an event loop (Playwright's
    sync API keeps one running once a browser test has used this worker)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def make_user(
    engine: Engine,
    *,
    email: str = "editor@example.com",
    role: Role = Role.editor,
    password: str = TEST_PASSWORD,
) -> int:
    """A studio user with a real argon2 hash (computed once for the shared test password)."""
    with Session(engine) as db_session:
        user = User(email=email, role=role, password_hash=_password_hash(password))
        db_session.add(user)
        db_session.commit()
        return user.id


@lru_cache
def _password_hash(password: str) -> str:
    # argon2 is slow on purpose; the suite creates hundreds of users with one password.
    return PasswordHasher().hash(password)


def make_user_token(engine: Engine, user_id: int) -> str:
    """A signed-in session for the user, as POST /api/v1/auth/token would give."""
    token = secrets.token_urlsafe(32)
    with Session(engine) as db_session:
        db_session.add(
            UserSession(
                user_id=user_id,
                token_hash=accounts.sha256_hex(token),
                expires_at=datetime.now(UTC) + timedelta(hours=1),
            )
        )
        db_session.commit()
    return token


@pytest.fixture
def api(client, engine):
    """A client whose calls carry a key with the given scopes: api('subscribers:write')."""

    def with_scopes(*scopes: str) -> TestClient:
        client.headers["Authorization"] = f"Bearer {make_api_key(engine, *scopes)}"
        return client

    return with_scopes


@pytest.fixture
def admin_api(api) -> TestClient:
    return api("admin")


@pytest.fixture
def project_root() -> Path:
    return Path(__file__).resolve().parents[1]
