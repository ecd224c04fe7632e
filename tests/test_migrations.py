"""Alembic is the only way the schema is made: it must match the models on every database."""

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from app.cli import alembic_config
from app.db import make_engine, metadata


def test_migrations_build_exactly_the_models(db_url):
    engine = make_engine(db_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    engine.dispose()
    assert differences == []


def test_downgrade_to_base_and_back(db_url, engine):
    config = alembic_config(db_url)
    config.attributes["configure_logger"] = False
    command.downgrade(config, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    command.upgrade(config, "heads")
    assert {"subscriber", "segment", "api_key", "audit_entry"} <= set(
        inspect(engine).get_table_names()
    )
