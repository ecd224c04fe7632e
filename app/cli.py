"""The `drumbeat` command: serve, migrate, create users and keys, import subscribers."""

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from alembic import command
from alembic.config import Config
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from app.accounts import service as accounts
from app.accounts.models import ApiKeyCreate, Role, Scope
from app.accounts.principal import CLI_PRINCIPAL
from app.config import get_settings
from app.db import make_engine, unit_of_work
from app.demo import newsroom, seed
from app.errors import DomainError

app = typer.Typer(
    help="Drumbeat: the internal newsletter of an IT department.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
user_app = typer.Typer(help="Studio users.", no_args_is_help=True)
apikey_app = typer.Typer(help="API keys for integrating services.", no_args_is_help=True)
subscribers_app = typer.Typer(help="Subscribers.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data.", no_args_is_help=True)
tracking_app = typer.Typer(help="Engagement tracking data.", no_args_is_help=True)
for sub, name in (
    (db_app, "db"),
    (user_app, "user"),
    (apikey_app, "apikey"),
    (subscribers_app, "subscribers"),
    (demo_app, "demo"),
    (tracking_app, "tracking"),
):
    app.add_typer(sub, name=name)

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def alembic_config(database_url: str | None = None) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    config.attributes["database_url"] = database_url or get_settings().database_url
    return config


def _fail(message: str) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(code=1)


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    reload: Annotated[bool, typer.Option(help="Restart on code changes")] = False,
) -> None:
    """Serve the API and the studio."""
    import uvicorn

    typer.echo(f"Drumbeat on http://{host}:{port}  (studio /studio, API docs /docs)")
    uvicorn.run(
        "app.main:create_app", factory=True, host=host, port=port, reload=reload, proxy_headers=True
    )


@app.command()
def worker(processes: Annotated[int, typer.Option(help="Worker processes")] = 1) -> None:
    """Send issues from the Redis queue (DRUMBEAT_BROKER_URL); run as many as you like."""
    import os
    import shutil

    if not get_settings().broker_url:
        _fail(
            "Set DRUMBEAT_BROKER_URL (e.g. redis://127.0.0.1:6379/0): without a broker "
            "`drumbeat serve` sends in its own process and needs no worker."
        )
    # Beside this Python first: `.venv/bin/drumbeat worker` works without an activated venv.
    beside = Path(sys.executable).with_name("taskiq")
    taskiq = str(beside) if beside.exists() else shutil.which("taskiq")
    if taskiq is None:
        _fail("the taskiq command is not installed")
    # The taskiq runner owns signals, restarts and graceful shutdown; we only point it at
    # our broker. Interrupted sends resume and scheduled issues start in every worker.
    command = [
        taskiq,
        "worker",
        "app.delivery.tasks:broker",
        "--workers",
        str(processes),
        "--ack-type",
        "when_executed",
    ]
    os.execv(taskiq, command)  # noqa: S606  (our own argv, no shell)


@db_app.command("upgrade")
def db_upgrade(revision: str = "heads") -> None:
    """Apply migrations (the only way the schema changes)."""
    command.upgrade(alembic_config(), revision)


@user_app.command("create")
def user_create(
    email: str, role: Annotated[Role, typer.Option()] = Role.editor, name: str = ""
) -> None:
    """Create a studio user; the generated password is printed once."""
    password = accounts.generate_password()
    try:
        with unit_of_work(make_engine(get_settings().database_url)) as session:
            accounts.create_user(
                session, email=email, role=role, name=name, password=password, actor=CLI_PRINCIPAL
            )
    except DomainError as exc:
        _fail(exc.detail)
    typer.echo(f"Created {role.value} {email}. Password (shown once):")
    typer.echo(password)


@user_app.command("ensure-admin")
def user_ensure_admin(
    email: Annotated[str, typer.Option(envvar="DRUMBEAT_ADMIN_EMAIL")] = "admin@example.com",
) -> None:
    """Create an admin with a generated password unless an admin exists."""
    with unit_of_work(make_engine(get_settings().database_url)) as session:
        if accounts.admin_exists(session):
            typer.echo("An admin exists; nothing to do.")
            return
        password = accounts.generate_password()
        accounts.create_user(
            session,
            email=email,
            role=Role.admin,
            name="Administrator",
            password=password,
            actor=CLI_PRINCIPAL,
        )
    typer.secho(
        f"Created admin {email} with password {password}  (shown once: note it now)",
        fg=typer.colors.YELLOW,
    )


@apikey_app.command("create")
def apikey_create(
    name: str, scope: Annotated[list[Scope], typer.Option("--scope", help="Repeatable")]
) -> None:
    """Create an API key; the key is printed once, as the last line."""
    with unit_of_work(make_engine(get_settings().database_url)) as session:
        key, secret = accounts.create_api_key(
            session, data=ApiKeyCreate(name=name, scopes=scope), actor=CLI_PRINCIPAL
        )
        typer.echo(f"Created API key {key.id} '{key.name}' with scopes {', '.join(key.scopes)}.")
    typer.echo(secret)


@subscribers_app.command("import")
def subscribers_import(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)]) -> None:
    """Upsert subscribers from a CSV file (header row: email, name, status, attributes...)."""
    from app.subscribers.importer import import_csv

    size = os.path.getsize(file)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed} rows"),
        TimeElapsedColumn(),
    )
    try:
        with (
            unit_of_work(make_engine(get_settings().database_url)) as session,
            file.open("rb") as binary,
            Progress(*columns) as progress,
        ):
            task = progress.add_task(f"Importing {file.name} ({size:,} bytes)", total=None)
            report = import_csv(
                session,
                binary=binary,
                actor=CLI_PRINCIPAL,
                on_rows=lambda n: progress.advance(task, n),
            )
    except DomainError as exc:
        _fail(f"Nothing imported: {exc.detail}")
    typer.echo(
        f"created {report.created}, updated {report.updated}, "
        f"unchanged {report.unchanged}, rejected {report.rejected_count}"
    )
    for rejection in report.rejected:
        typer.echo(f"  line {rejection.line}: {rejection.reason}", err=True)


@tracking_app.command("fold")
def tracking_fold(
    days: Annotated[
        int | None,
        typer.Option(min=1, help="Retention in days [default: DRUMBEAT_TRACKING_RETENTION_DAYS]"),
    ] = None,
) -> None:
    """Fold raw engagement events older than the retention period into aggregates, delete
    them, and delete the pseudonym salts of issues with no raw events left."""
    from app.analytics.retention import fold

    settings = get_settings()
    result = fold(
        make_engine(settings.database_url),
        retention_days=days or settings.tracking_retention_days,
    )
    typer.echo(
        f"Folded {result.events_deleted} raw events of {len(result.issue_ids)} issues; "
        f"deleted {result.salts_deleted} pseudonym salts."
    )


@demo_app.command("load")
def demo_load(if_empty: Annotated[bool, typer.Option("--if-empty")] = False) -> None:
    """Load the demo audience (with --if-empty: only into an empty database)."""
    with unit_of_work(make_engine(get_settings().database_url)) as session:
        if if_empty and not seed.is_empty(session):
            typer.echo("The database has data; demo not loaded.")
            return
        seed.load(session)
        newsroom.load(session)
    typer.echo(
        "Loaded the demo: 200 subscribers, 6 segments, news of every kind, a flash issue "
        "in review and the next bulletin in draft."
    )


if __name__ == "__main__":
    app()
