"""The `drumbeat` command, run as an operator would."""

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from app.accounts.models import User
from app.cli import app as cli
from app.config import get_settings
from app.issues.models import Excerpt, Issue
from app.news.models import NewsItem
from app.segments.models import Segment
from app.subscribers.models import Subscriber

runner = CliRunner()


@pytest.fixture
def cli_env(db_url, engine, monkeypatch, tmp_path):
    monkeypatch.setenv("DRUMBEAT_DATABASE_URL", db_url)
    monkeypatch.setenv("DRUMBEAT_VAR_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def run(*args: str):
    result = runner.invoke(cli, list(args))
    return result


def test_apikey_create_prints_the_key_last_and_it_works(cli_env, client):
    result = run(
        "apikey", "create", "monitoring", "--scope", "news:write", "--scope", "subscribers:read"
    )
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    assert key.startswith("dbk_")
    response = client.get("/api/v1/subscribers", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200


def test_apikey_create_refuses_an_unknown_scope(cli_env):
    result = run("apikey", "create", "x", "--scope", "everything")
    assert result.exit_code != 0


def test_user_create_prints_a_generated_password_once(cli_env, session):
    result = run("user", "create", "Approver@Example.com", "--role", "approver")
    assert result.exit_code == 0, result.output
    password = result.output.strip().splitlines()[-1]
    assert len(password) >= 12
    user = session.scalar(select(User).where(User.email == "approver@example.com"))
    assert user.role == "approver" and password not in user.password_hash

    again = run("user", "create", "approver@example.com", "--role", "editor")
    assert again.exit_code == 1 and "exists already" in again.output


def test_ensure_admin_creates_one_admin_only_once(cli_env, session):
    first = run("user", "ensure-admin", "--email", "it-lead@example.com")
    assert first.exit_code == 0 and "password" in first.output
    second = run("user", "ensure-admin", "--email", "someone@example.com")
    assert second.exit_code == 0 and "nothing to do" in second.output
    assert session.scalar(select(func.count()).select_from(User)) == 1


def test_demo_loads_a_living_audience_only_into_an_empty_database(cli_env, session):
    assert run("demo", "load", "--if-empty").exit_code == 0
    assert session.scalar(select(func.count()).select_from(Subscriber)) == 200
    names = set(session.scalars(select(Segment.name)))
    assert {"Top management", "Budget holders", "ITSM roles", "Key users", "All staff"} <= names
    kinds = set(session.scalars(select(NewsItem.kind)))
    assert kinds == {"win", "open_work", "risk", "incident", "opportunity", "info"}
    drafts = session.scalars(select(Issue).where(Issue.kind == "regular")).all()
    assert len(drafts) == 3 and all(i.status == "draft" for i in drafts)
    assert session.scalar(select(func.count()).select_from(Excerpt)) >= 3
    [flash] = session.scalars(select(Issue).where(Issue.kind == "flash")).all()
    assert flash.status == "in_review"
    assert "not loaded" in run("demo", "load", "--if-empty").output
    assert session.scalar(select(func.count()).select_from(Subscriber)) == 200


def test_demo_segments_select_believable_audiences(cli_env, admin_api):
    run("demo", "load", "--if-empty")
    counts = {s["name"]: s["member_count"] for s in admin_api.get("/api/v1/segments").json()}
    assert 0 < counts["Top management"] < counts["Budget holders"] < counts["All staff"] <= 200
    assert 0 < counts["ITSM roles"] < 100 and 0 < counts["Key users"] < 100
