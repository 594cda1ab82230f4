"""Fixtures: runs of the `poe` runtime over the in-memory port, finished at teardown."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.sandbox.poe.harness import MakeRun, Run, new_run


@pytest.fixture
def make_run() -> Iterator[MakeRun]:
    runs: list[Run] = []

    def make(*args: Any, **kwargs: Any) -> Run:
        runs.append(new_run(*args, **kwargs))
        return runs[-1]

    yield make
    for run in runs:
        run.ns.finish()


@pytest.fixture
def run(make_run: MakeRun) -> Run:
    return make_run()
