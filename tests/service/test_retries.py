"""A run's end is recorded through a database that is briefly away: transient errors are
retried with back-off until a deadline, other errors are not."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from service.runs.retries import retrying


async def test_transient_errors_are_retried_until_the_call_succeeds() -> None:
    attempts: list[int] = []

    async def record() -> None:
        attempts.append(1)
        if len(attempts) < 3:
            raise OperationalError("UPDATE runs", {}, Exception("server closed the connection"))

    assert await retrying(record, what="record run", run_id="r1", for_s=10) is True
    assert len(attempts) == 3


async def test_a_database_away_past_the_deadline_gives_up() -> None:
    attempts: list[int] = []

    async def record() -> None:
        attempts.append(1)
        raise OperationalError("UPDATE runs", {}, Exception("database or disk is full"))

    assert await retrying(record, what="record run", run_id="r1", for_s=0.5) is False
    assert 2 <= len(attempts) <= 4


async def test_other_errors_are_not_retried() -> None:
    async def record() -> None:
        raise ValueError("a bug")

    with pytest.raises(ValueError):
        await retrying(record, what="record run", run_id="r1", for_s=10)
