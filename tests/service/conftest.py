"""Service tests: no request may reach the last-resort 500 handler unless a test says so."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from service.store.db import Database


@pytest.fixture(autouse=True)
def no_unhandled_errors(
    request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> Iterator[None]:
    yield
    if request.node.get_closest_marker("allows_500"):
        return
    unhandled = [r for r in caplog.records if r.name == "service.routes.errors" and r.levelno >= 40]
    assert not unhandled, f"a request reached the 500 handler: {unhandled[0].getMessage()}"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "allows_500: the test provokes the last-resort handler")


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, make_empty_database: Callable[[str], str]) -> Database:
    """An empty database of each kind, for the migration tests to upgrade step by step."""
    db = Database(make_empty_database(request.param))
    request.addfinalizer(db.dispose)
    return db
