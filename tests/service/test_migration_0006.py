"""Revision 0006 (files know their creator, the retention's indexes) upgrades a 0005
database with its rows, each existing file counted against its run's creator, and
downgrades back keeping them."""

from __future__ import annotations

import uuid

from alembic import command
from sqlalchemy import inspect, text

from service.store.db import Database
from service.store.migrations import alembic_config, current_revision, upgrade


def test_an_0005_database_upgrades_with_its_files_counted(database: Database) -> None:
    upgrade(database.engine, "0005")
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
                " 0, 0)"
            ),
            key,
        )
        connection.execute(
            text(
                "INSERT INTO files (id, run_id, name, content_type, size, data, created_at)"
                " VALUES ('f1', :id, 'a.txt', 'text/plain', 2, :data, CURRENT_TIMESTAMP)"
            ),
            {**key, "data": b"hi"},
        )
    upgrade(database.engine, "0006")
    assert current_revision(database.engine) == "0006"
    with database.engine.connect() as connection:
        row = connection.execute(text("SELECT creator_id, size, data FROM files")).one()
        assert (row[0], row[1], bytes(row[2])) == (7, 2, b"hi")
    config = alembic_config()
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0005")
    assert "creator_id" not in {c["name"] for c in inspect(database.engine).get_columns("files")}
    with database.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM files")).scalar() == 1
        assert connection.execute(text("SELECT count(*) FROM runs")).scalar() == 1
