"""The engine and sessions, made from Settings inside the app's lifespan (never at import).

SQLite gets what a multi-threaded server needs: foreign keys on, WAL, a busy timeout, and
``BEGIN IMMEDIATE`` so that a transaction that reads and then writes waits for the write
lock instead of failing with "database is locked" when another writer went first.

The query path's writes (``Database.connection``: a run's row, its end, its record, a
token's last use) do not wait for the disk on either database: SQLite's WAL at
``synchronous = NORMAL`` syncs at checkpoints, and on PostgreSQL those transactions commit
with ``synchronous_commit`` off (0.15 instead of 0.5-0.8 ms a commit here, twice per run).
A database crash may forget the last fraction of a second of them, never corrupt anything:
a forgotten end leaves a row ``running`` that the stuck-run rule ends (runs/leases.py).
Everything else (creators, scripts, tokens, secrets) commits durably.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_S = 30
CONNECT_TIMEOUT_S = 10
# A server database (PostgreSQL): the query path's writing transactions run in at most
# QUERY_THREADS worker threads at once, its authorizations in as many beside them
# (runs/orchestrator.py). More threads only fight over the GIL with
# the event loop: at 500 queries at once, 40 threads (anyio's default) sent half the meta
# events later than 5 s, 4 threads a quarter (benchmarks/scale.py). The pool holds a
# connection for each of them and for everything else (pages, REST, leases) beside them,
# and a request that cannot get one within POOL_TIMEOUT_S answers 503.
QUERY_THREADS = 4
RECORD_THREADS = 2  # runs' records and the background upkeep, beside the query path
POOL_SIZE = 12
POOL_OVERFLOW = 8
POOL_TIMEOUT_S = 10


def make_engine(database_url: str) -> Engine:
    url = make_url(database_url)
    backend = url.get_backend_name()
    pool: dict[str, Any] = {
        "pool_pre_ping": True,
        "pool_size": POOL_SIZE,
        "max_overflow": POOL_OVERFLOW,
        "pool_timeout": POOL_TIMEOUT_S,
    }
    if backend == "postgresql":
        connect_args = (
            {} if "connect_timeout" in url.query else {"connect_timeout": CONNECT_TIMEOUT_S}
        )
        engine = create_engine(url, connect_args=connect_args, **pool)
        event.listen(engine, "begin", _commit_without_flush)
        return engine
    if backend != "sqlite":
        return create_engine(url, **pool)
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S}
    )
    event.listen(engine, "connect", _configure_sqlite)
    event.listen(engine, "begin", _begin_immediate)
    return engine


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


def _begin_immediate(connection: Any) -> None:
    # A transaction that only reads (``Database.reading``) takes no write lock.
    read_only = connection.get_execution_options().get(READ_ONLY, False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _commit_without_flush(connection: Any) -> None:
    if connection.get_execution_options().get(QUERY_PATH, False):
        connection.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")


READ_ONLY = "scriptbots_read_only"
QUERY_PATH = "scriptbots_query_path"  # its writes need not wait for the disk (module doc)


class Database:
    """The engine and a session factory; one instance per app, in ``app.state.db``."""

    def __init__(self, database_url: str) -> None:
        self.engine = make_engine(database_url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._reader = self.engine.execution_options(**{READ_ONLY: True})
        self._query_path = self.engine.execution_options(**{QUERY_PATH: True})

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any error."""
        with self.sessions.begin() as session:
            yield session

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A Core connection in one transaction (committed on success): the query path's
        statements, without the ORM's unit of work (nor a wait for the disk)."""
        with self._query_path.begin() as connection:
            yield connection

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """Like ``connection``, for a transaction that only reads: on SQLite it does not
        take the database's write lock, so reads never queue behind writers."""
        with self._reader.begin() as connection:
            yield connection

    def ping(self) -> None:
        """Raises when the database cannot be reached."""
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()
