"""Service tests: the migration tests' empty databases."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from service.store.db import Database


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, make_empty_database: Callable[[str], str]) -> Database:
    """An empty database of each kind, for the migration tests to upgrade step by step."""
    db = Database(make_empty_database(request.param))
    request.addfinalizer(db.dispose)
    return db
