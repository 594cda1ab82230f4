"""Revision 0003 adds a version's extracted settings, header and computed bot calls, and the
scripts' refetch flag, to a database that 0002 made, keeping its rows; and downgrades back."""

from __future__ import annotations

import json

from alembic import command
from sqlalchemy import inspect, text

from service.store.db import Database
from service.store.migrations import alembic_config, current_revision, upgrade


def test_an_0002_database_upgrades_with_its_rows_and_back(database: Database) -> None:
    upgrade(database.engine, "0002")
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
                " created_at, updated_at) VALUES (1, 1, 'Hello', 'hello', :settings, 1,"
                " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            {"settings": json.dumps({"introduction_message": "hi"})},
        )
        connection.execute(
            text(
                "INSERT INTO script_versions (id, script_id, number, source, sha256, size,"
                " bot_dependencies, created_at) VALUES (1, 1, 1, 'print(1)', 'x', 8, :deps,"
                " CURRENT_TIMESTAMP)"
            ),
            {"deps": json.dumps({"GPT-4o": 1})},
        )
        connection.execute(
            text(
                "INSERT INTO runs (id, script_id, version, trigger, status, started_at,"
                " bot_calls, chars_out) VALUES ('0123456789abcdef0123456789abcdef', 1, 1,"
                " 'poe', 'ok', CURRENT_TIMESTAMP, 0, 0)"
            )
        )
    upgrade(database.engine, "0003")
    assert current_revision(database.engine) == "0003"
    with database.engine.connect() as connection:
        version = connection.execute(
            text(
                "SELECT source, bot_dependencies, dynamic_bot_calls, settings, header,"
                " privacy_shield FROM script_versions"
            )
        ).one()
        header = version.header if isinstance(version.header, dict) else json.loads(version.header)
        deps = version.bot_dependencies
        deps = deps if isinstance(deps, dict) else json.loads(deps)
        assert (version.source, deps, version.dynamic_bot_calls) == ("print(1)", {"GPT-4o": 1}, 0)
        assert (version.settings, header, version.privacy_shield) == (None, {}, None)
        script = connection.execute(text("SELECT settings, refetch_settings FROM scripts")).one()
        assert not script.refetch_settings
        assert connection.execute(text("SELECT count(*) FROM runs")).scalar() == 1
    config = alembic_config()
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0002")
    columns = {c["name"] for c in inspect(database.engine).get_columns("script_versions")}
    assert "header" not in columns and "settings" not in columns
    with database.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM script_versions")).scalar() == 1
        assert connection.execute(text("SELECT count(*) FROM runs")).scalar() == 1
