"""Alembic is the only way tables are made: empty → head works, and models match revisions."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from service.store.db import Database
from service.store.migrations import (
    alembic_config,
    current_revision,
    head_revision,
    upgrade,
)
from service.store.tables import Base

TABLES = {
    "creators",
    "api_tokens",
    "scripts",
    "script_versions",
    "runs",
    "run_events",
    "reports",
    "files",
}


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(
    request: pytest.FixtureRequest, make_empty_database: Callable[[str], str]
) -> Database:
    database = Database(make_empty_database(request.param))
    request.addfinalizer(database.dispose)
    return database


def test_one_linear_history_with_a_single_head() -> None:
    scripts = ScriptDirectory.from_config(alembic_config())
    assert len(scripts.get_heads()) == 1
    assert head_revision() == scripts.get_current_head()


def test_empty_database_upgrades_to_head(empty_database: Database) -> None:
    assert current_revision(empty_database.engine) is None
    upgrade(empty_database.engine)
    assert current_revision(empty_database.engine) == head_revision()
    assert set(inspect(empty_database.engine).get_table_names()) >= TABLES
    upgrade(empty_database.engine)  # nothing pending: a no-op
    assert current_revision(empty_database.engine) == head_revision()


def test_models_and_migrations_are_in_sync(empty_database: Database) -> None:
    upgrade(empty_database.engine)
    with empty_database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_downgrade_to_base_and_back(empty_database: Database) -> None:
    upgrade(empty_database.engine)
    config = alembic_config()
    with empty_database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert not TABLES & set(inspect(empty_database.engine).get_table_names())
    upgrade(empty_database.engine)
    assert set(inspect(empty_database.engine).get_table_names()) >= TABLES
