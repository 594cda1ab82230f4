"""Fixtures shared by the whole suite: real databases, Settings, the app, creators, scripts.

``database_url`` is parametrized: a SQLite file, and a PostgreSQL database created for this
test session (``scriptbots_test_<random>``, dropped at the end) so that parallel runs never
see each other's rows. Both are migrated to head by Alembic, as in production. Names are
random, so tests share a database without sharing rows.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from service.app import create_app
from service.security import HASH_PROFILE_ENV
from service.settings import Settings
from service.store.creators import create_api_token, create_creator
from service.store.db import Database
from service.store.migrations import upgrade

POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
TEST_SECRET_KEY = "test-secret-key-" + "k" * 32
HELLO_SOURCE = 'print("Hello from a script bot")\n'
# argon2's cheapest parameters for every hash of the suite and of the servers it starts
# (tests/service/processes.py): the production ones took half of the web tests' time.
os.environ[HASH_PROFILE_ENV] = "test"


def unique_name(prefix: str = "s") -> str:
    """A fresh name that follows the naming rule (a letter, then letters and digits)."""
    return f"{prefix}{secrets.token_hex(6)}"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "allows_500: the test provokes the last-resort handler")


@pytest.fixture(autouse=True)
def no_unhandled_errors(
    request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> Iterator[None]:
    """No request may reach the last-resort 500 handler unless the test says it provokes it:
    anywhere else, one that does is a bug the test would otherwise pass over."""
    yield
    if request.node.get_closest_marker("allows_500"):
        return
    unhandled = [r for r in caplog.records if r.name == "service.routes.errors" and r.levelno >= 40]
    assert not unhandled, f"a request reached the 500 handler: {unhandled[0].getMessage()}"


# -- PostgreSQL --------------------------------------------------------------------------


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _postgres_up() -> bool:
    try:
        with psycopg.connect(_libpq(POSTGRES_URL), connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def _start_postgres() -> None:
    """Start the machine's cluster when it is down (CI machines run one; see .ci/system-deps)."""
    if shutil.which("pg_ctlcluster") is None or not Path("/etc/postgresql").is_dir():
        return
    for version in os.listdir("/etc/postgresql"):
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
            check=False,
            capture_output=True,
        )
    deadline = time.monotonic() + 30
    while not _postgres_up() and time.monotonic() < deadline:
        time.sleep(0.2)


@pytest.fixture(scope="session")
def make_postgres_database() -> Iterator[Callable[[], str]]:
    """A factory of empty PostgreSQL databases, each dropped when the session ends."""
    if not _postgres_up():
        _start_postgres()
    if not _postgres_up():
        pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_URL} (set TEST_POSTGRES_URL)")
    created: list[str] = []

    def make() -> str:
        name = f"scriptbots_test_{secrets.token_hex(6)}"
        with psycopg.connect(_libpq(POSTGRES_URL), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)

    yield make
    with psycopg.connect(_libpq(POSTGRES_URL), autocommit=True) as connection:
        for name in created:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def make_empty_database(
    tmp_path_factory: pytest.TempPathFactory, make_postgres_database: Callable[[], str]
) -> Callable[[str], str]:
    """``make("sqlite" | "postgresql")``: the URL of a new, empty database."""

    def make(backend: str) -> str:
        if backend == "postgresql":
            return make_postgres_database()
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'scriptbots.db'}"

    return make


def _migrated(url: str) -> str:
    database = Database(url)
    try:
        upgrade(database.engine)
    finally:
        database.dispose()
    return url


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, make_empty_database: Callable[[str], str]) -> str:
    """A database migrated to head: every test using it runs on SQLite and on PostgreSQL."""
    return _migrated(make_empty_database(request.param))


@pytest.fixture(scope="session")
def sqlite_url(make_empty_database: Callable[[str], str]) -> str:
    """A migrated SQLite database, for tests that need one database of either kind."""
    return _migrated(make_empty_database("sqlite"))


# -- Settings, app, client -----------------------------------------------------------------


@pytest.fixture
def make_settings(database_url: str) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"database_url": database_url, "secret_key": TEST_SECRET_KEY}
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The app with its lifespan running (engine open, app.state filled)."""
    application = create_app(settings, warm_sandbox=False)  # a run still starts the pool
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    # raise_app_exceptions (the default): an error reaching the 500 handler fails the test.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """Direct access to the test database, beside the app."""
    database = Database(database_url)
    yield database
    database.dispose()


# -- creators and scripts ------------------------------------------------------------------


@dataclass(frozen=True)
class CreatorInfo:
    id: int
    name: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def make_creator(db: Database) -> Callable[..., CreatorInfo]:
    def make(name: str | None = None, password_hash: str | None = None) -> CreatorInfo:
        with db.transaction() as session:
            creator = create_creator(session, name or unique_name("c"), password_hash)
            token = create_api_token(session, creator)
            return CreatorInfo(creator.id, creator.name, token)

    return make


@pytest.fixture
def creator(make_creator: Callable[..., CreatorInfo]) -> CreatorInfo:
    return make_creator()


@pytest.fixture
def make_script(
    client: httpx.AsyncClient, creator: CreatorInfo
) -> Callable[..., Awaitable[dict[str, Any]]]:
    """``await make_script(source=..., owner=..., **fields)``: a script created through the API."""

    async def make(
        source: str = HELLO_SOURCE, owner: CreatorInfo | None = None, **fields: Any
    ) -> dict[str, Any]:
        body = {"name": unique_name(), "source": source, **fields}
        response = await client.post(
            "/api/v1/scripts", json=body, headers=(owner or creator).headers
        )
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    return make


# A checkout under /tmp has its Python library mounted inside each run's scratch directory
# (/tmp), at its own path: a listing of the scratch directory shows that one name too.
_CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIBRARY_UNDER_SCRATCH = _CHECKOUT.split("/")[2] if _CHECKOUT.startswith("/tmp/") else None


def without_library_mount(listing: str) -> str:
    """``listing`` (a printed list of the scratch directory) without that name."""
    if LIBRARY_UNDER_SCRATCH is None:
        return listing
    name = repr(LIBRARY_UNDER_SCRATCH)
    return listing.replace(f", {name}", "").replace(f"{name}, ", "").replace(name, "")
