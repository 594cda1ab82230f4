"""Revision 0007 (script secrets) upgrades a 0006 database with its rows, takes secrets that
go with their script, and downgrades back keeping the rest."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from service.store.db import Database
from service.store.migrations import alembic_config, current_revision, upgrade


def test_an_0006_database_upgrades_and_downgrades_with_its_rows(database: Database) -> None:
    upgrade(database.engine, "0006")
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
    upgrade(database.engine, "0007")
    assert current_revision(database.engine) == "0007"
    insert = text(
        "INSERT INTO script_secrets (script_id, name, value_encrypted, created_at, updated_at)"
        " VALUES (1, 'KEY', 'token', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
    )
    with database.engine.begin() as connection:
        connection.execute(insert)
    with pytest.raises(IntegrityError), database.engine.begin() as connection:
        connection.execute(insert)  # one value per name and script
    with database.engine.begin() as connection:
        assert connection.execute(text("SELECT count(*) FROM scripts")).scalar() == 1
        connection.execute(text("DELETE FROM scripts WHERE id = 1"))
        assert connection.execute(text("SELECT count(*) FROM script_secrets")).scalar() == 0
    config = alembic_config()
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0006")
    assert "script_secrets" not in inspect(database.engine).get_table_names()
    with database.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM creators")).scalar() == 1
