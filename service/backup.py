"""``scriptbots export FILE`` / ``scriptbots import FILE``: what the service must not lose,
as one JSON document that moves between databases (SQLite → PostgreSQL and back).

Exported: creators (password hashes), API tokens (hashes only), scripts with their settings
and every version, script secrets and access keys still encrypted (they decrypt only with
the same SECRET_KEY: keep the key with the export), and the audit log. Not exported: runs,
transcripts, reports, kept files and login throttles, which are history, not state.

Every column of those tables goes out as it is stored, so a column a later revision adds is
carried without changes here. Import goes into a migrated database with no creator yet,
keeps every id (so references hold) and moves PostgreSQL's sequences past them.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Connection, Engine, LargeBinary, Table, func, select, text
from sqlalchemy.types import TypeDecorator

from service.store.migrations import current_revision
from service.store.tables import Base

FORMAT = "scriptbots-export"
FORMAT_VERSION = 1
# Parents before children: the order inserts must follow.
TABLES = ("creators", "api_tokens", "scripts", "script_versions", "script_secrets", "audit_events")


class BackupError(Exception):
    """An export or import that cannot be done; the message says why and what to do."""


def _tables() -> list[Table]:
    return [Base.metadata.tables[name] for name in TABLES if name in Base.metadata.tables]


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _decode(column: Column[Any], value: Any) -> Any:
    if value is None:
        return None
    kind = column.type.impl_instance if isinstance(column.type, TypeDecorator) else column.type
    python_type: type | None
    try:
        python_type = kind.python_type
    except NotImplementedError:
        python_type = None
    if python_type is datetime:
        return datetime.fromisoformat(value)
    if isinstance(kind, LargeBinary):
        return base64.b64decode(value)
    if python_type is uuid.UUID:
        return uuid.UUID(value)
    return value


def export_database(engine: Engine, path: Path) -> dict[str, int]:
    """Write the export to ``path`` (mode 0600: it holds password and token hashes);
    answers the rows written per table."""
    document: dict[str, Any] = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "schema_revision": current_revision(engine),
        "tables": {},
    }
    counts: dict[str, int] = {}
    with engine.connect() as connection:
        for table in _tables():
            columns = [column.name for column in table.columns]
            order = list(table.primary_key.columns)
            rows = connection.execute(select(table).order_by(*order)).all()
            document["tables"][table.name] = {
                "columns": columns,
                "rows": [[_encode(value) for value in row] for row in rows],
            }
            counts[table.name] = len(rows)
    partial = path.with_name(path.name + ".partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        json.dump(document, out, ensure_ascii=False)
    partial.replace(path)  # a crash midway never leaves a half export under the name
    return counts


def import_database(engine: Engine, path: Path) -> dict[str, int]:
    """Load an export into ``engine``'s migrated, creator-less database, in one transaction;
    answers the rows read per table."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BackupError(f"cannot read {path}: {exc}") from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise BackupError(f"{path} is not a scriptbots export")
    if document.get("version") != FORMAT_VERSION:
        raise BackupError(
            f"{path} has export format {document.get('version')!r}; this "
            f"scriptbots reads format {FORMAT_VERSION}"
        )
    tables = document.get("tables")
    if not isinstance(tables, dict):
        raise BackupError(f"{path} has no tables")
    counts: dict[str, int] = {}
    with engine.begin() as connection:
        creators = Base.metadata.tables["creators"]
        if connection.scalar(select(func.count()).select_from(creators)):
            raise BackupError(
                "the database already has creators; import into a new, empty database "
                "(scriptbots migrate creates its tables)"
            )
        for table in _tables():
            counts[table.name] = _insert(connection, table, tables.get(table.name))
        if connection.dialect.name == "postgresql":
            _move_sequences(connection)
    return counts


def _insert(connection: Connection, table: Table, data: Any) -> int:
    if data is None:  # exported before this table existed
        return 0
    names = data.get("columns", [])
    unknown = [name for name in names if name not in table.columns]
    if unknown:
        raise BackupError(
            f"the export's {table.name} has columns this database lacks ({', '.join(unknown)}):"
            " upgrade this scriptbots to the version that exported it, or later"
        )
    columns = [table.columns[name] for name in names]
    rows = [
        {column.name: _decode(column, value) for column, value in zip(columns, row, strict=True)}
        for row in data.get("rows", [])
    ]
    if rows:
        connection.execute(table.insert(), rows)
    return len(rows)


def _move_sequences(connection: Connection) -> None:
    """Ids were inserted as they were: the next generated one must come after them."""
    for table in _tables():
        for column in table.primary_key.columns:
            if not column.autoincrement or column.type.python_type is not int:
                continue
            connection.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence(:table, :column), "
                    f"COALESCE((SELECT MAX({column.name}) FROM {table.name}), 0) + 1, false)"
                ),
                {"table": table.name, "column": column.name},
            )
