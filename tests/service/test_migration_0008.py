"""Revision 0008 (file bytes in chunks) upgrades a 0007 database with its files' bytes, and
downgrades back keeping them."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, text

from service.store.db import Database
from service.store.migrations import alembic_config, upgrade


def test_an_0007_database_keeps_its_files_bytes_both_ways(database: Database) -> None:
    upgrade(database.engine, "0007")
    with database.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO files (id, name, content_type, size, data, created_at) VALUES"
                " ('f1', 'a.bin', 'application/octet-stream', 3, :data, CURRENT_TIMESTAMP)"
            ),
            {"data": b"\x00\xffz"},
        )
    upgrade(database.engine, "0008")
    assert "data" not in {c["name"] for c in inspect(database.engine).get_columns("files")}
    with database.engine.connect() as connection:
        (seq, data) = connection.execute(text("SELECT seq, data FROM file_chunks")).one()
        assert (seq, bytes(data)) == (0, b"\x00\xffz")
    config = alembic_config()
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0007")
    assert "file_chunks" not in inspect(database.engine).get_table_names()
    with database.engine.connect() as connection:
        data = connection.execute(text("SELECT data FROM files WHERE id = 'f1'")).scalar()
        assert bytes(data) == b"\x00\xffz"
