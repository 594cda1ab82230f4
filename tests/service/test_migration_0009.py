"""Revision 0009 (runs keep their query's text) upgrades a 0008 database with its runs, which
have no query text, and downgrades back keeping them."""

from __future__ import annotations

import uuid

from alembic import command
from sqlalchemy import inspect, text

from service.store.db import Database
from service.store.migrations import alembic_config, current_revision, upgrade


def test_an_0008_database_upgrades_with_its_runs(database: Database) -> None:
    upgrade(database.engine, "0008")
    run_id = uuid.uuid4()
    key = {"id": run_id.hex if database.engine.dialect.name == "sqlite" else str(run_id)}
    with database.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO creators (id, name, name_key, password_hash, created_at) "
                "VALUES (7, 'Alice', 'alice', 'h', CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO scripts (id, creator_id, name, name_key, settings, current_version,"
                " created_at, updated_at) VALUES (1, 7, 'Hello', 'hello', '{}', 1,"
                " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO runs (id, script_id, version, trigger, status, started_at,"
                " bot_calls, chars_out) VALUES (:id, 1, 1, 'poe', 'ok', CURRENT_TIMESTAMP,"
                " 0, 3)"
            ),
            key,
        )
    upgrade(database.engine, "0009")
    assert current_revision(database.engine) == "0009"
    with database.engine.connect() as connection:
        row = connection.execute(text("SELECT chars_out, query_text FROM runs")).one()
    assert tuple(row) == (3, None)
    with database.engine.begin() as connection:
        connection.execute(text("UPDATE runs SET query_text = 'hi'"))
    config = alembic_config()
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0008")
    assert "query_text" not in {c["name"] for c in inspect(database.engine).get_columns("runs")}
    with database.engine.connect() as connection:
        assert connection.execute(text("SELECT chars_out FROM runs")).scalar_one() == 3
