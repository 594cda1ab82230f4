"""Revision 0002 upgrades a database that 0001 made, keeping its rows (SQLite copies the runs
table to add a foreign key), and downgrades back."""

from __future__ import annotations

import uuid

from alembic import command
from sqlalchemy import inspect, text

from service.store.db import Database
from service.store.migrations import alembic_config, current_revision, upgrade


def test_an_0001_database_upgrades_with_its_rows(database: Database) -> None:
    upgrade(database.engine, "0001")
    run_id = uuid.uuid4()
    with database.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO creators (id, name, name_key, created_at) "
                "VALUES (1, 'Alice', 'alice', CURRENT_TIMESTAMP)"
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
                " bot_calls, chars_out, poe_message_id) VALUES (:id, 1, 1, 'poe', 'ok',"
                " CURRENT_TIMESTAMP, 2, 5, 'm1')"
            ),
            {"id": run_id.hex if database.engine.dialect.name == "sqlite" else str(run_id)},
        )
        key = {"id": run_id.hex if database.engine.dialect.name == "sqlite" else str(run_id)}
        connection.execute(
            text("INSERT INTO run_events (run_id, seq, type, data) VALUES (:id, 0, 'done', '{}')"),
            key,
        )
        connection.execute(
            text(
                "INSERT INTO reports (id, script_id, run_id, message_id, kind, data, received_at)"
                " VALUES (1, 1, :id, 'm1', 'feedback', '{}', CURRENT_TIMESTAMP)"
            ),
            key,
        )
    upgrade(database.engine, "0002")
    assert current_revision(database.engine) == "0002"
    schema = inspect(database.engine)
    assert "files" in schema.get_table_names()
    assert "parent_run_id" in {c["name"] for c in schema.get_columns("runs")}
    with database.engine.connect() as connection:
        row = connection.execute(
            text("SELECT status, bot_calls, chars_out, poe_message_id, parent_run_id FROM runs")
        ).one()
        assert tuple(row) == ("ok", 2, 5, "m1", None)
        assert connection.execute(text("SELECT count(*) FROM run_events")).scalar() == 1
        assert connection.execute(text("SELECT run_id FROM reports")).scalar() is not None
    config = alembic_config()
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0001")
    assert "files" not in inspect(database.engine).get_table_names()
    with database.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM runs")).scalar() == 1
        assert connection.execute(text("SELECT count(*) FROM run_events")).scalar() == 1
        assert connection.execute(text("SELECT run_id FROM reports")).scalar() is not None
