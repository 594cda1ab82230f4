"""Revision 0004 (session versions, login throttles, run leases) upgrades a 0003 database
with its rows, and downgrades back keeping them."""

from __future__ import annotations

import uuid

from alembic import command
from sqlalchemy import inspect, text

from service.store.db import Database
from service.store.migrations import alembic_config, current_revision, upgrade


def test_an_0003_database_upgrades_with_its_rows(database: Database) -> None:
    upgrade(database.engine, "0003")
    run_id = uuid.uuid4()
    key = {"id": run_id.hex if database.engine.dialect.name == "sqlite" else str(run_id)}
    with database.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO creators (id, name, name_key, password_hash, created_at) "
                "VALUES (1, 'Alice', 'alice', 'h', CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO scripts (id, creator_id, name, name_key, settings, current_version,"
                " created_at, updated_at) VALUES (1, 1, 'Hello', 'hello', '{}', 1,"
                " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO runs (id, script_id, version, trigger, status, started_at,"
                " bot_calls, chars_out) VALUES (:id, 1, 1, 'poe', 'running', CURRENT_TIMESTAMP,"
                " 0, 0)"
            ),
            key,
        )
        connection.execute(
            text("INSERT INTO run_events (run_id, seq, type, data) VALUES (:id, 0, 'meta', '{}')"),
            key,
        )
    upgrade(database.engine, "0004")
    assert current_revision(database.engine) == "0004"
    assert "login_throttles" in inspect(database.engine).get_table_names()
    with database.engine.connect() as connection:
        creator = connection.execute(text("SELECT password_hash, session_version FROM creators"))
        assert tuple(creator.one()) == ("h", 0)
        run = connection.execute(text("SELECT status, lease_until FROM runs")).one()
        assert tuple(run) == ("running", None)  # no lease: the reconciler ends it by age
        assert connection.execute(text("SELECT count(*) FROM run_events")).scalar() == 1
    config = alembic_config()
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0003")
    schema = inspect(database.engine)
    assert "login_throttles" not in schema.get_table_names()
    assert "lease_until" not in {c["name"] for c in schema.get_columns("runs")}
    with database.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM runs")).scalar() == 1
        assert connection.execute(text("SELECT count(*) FROM run_events")).scalar() == 1
