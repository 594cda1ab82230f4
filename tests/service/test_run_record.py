"""A run's record after its response (issue 15), in process with a real sandbox pool, on
SQLite and PostgreSQL: the row leaves ``running`` before ``done`` is sent (so that the
quota does not count it once the client has ``done``), the transcript follows, and a run
read through the API right after its response is whole."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from service.app import create_app
from service.runs.run import EARLY_TRANSCRIPT_BYTES
from service.settings import Settings
from service.store.db import Database
from service.store.tables import Run, RunEvent, Script
from tests.conftest import CreatorInfo, unique_name


@pytest.fixture
async def one_at_a_time(make_settings: Callable[..., Settings]) -> AsyncIterator[FastAPI]:
    """An app whose creators may have one run at a time."""
    application = create_app(make_settings(creator_max_concurrent_runs=1), warm_sandbox=False)
    async with application.router.lifespan_context(application):
        yield application


async def test_the_run_leaves_running_before_done_and_its_transcript_follows(
    one_at_a_time: FastAPI, db: Database, creator: CreatorInfo
) -> None:
    transport = httpx.ASGITransport(app=one_at_a_time)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        name = unique_name()
        created = await client.post(
            "/api/v1/scripts", json={"name": name, "source": 'print("hi")'}, headers=creator.headers
        )
        assert created.status_code == 201
        for _ in range(12):  # each query as soon as the last one's response ended
            response = await client.post(
                f"/api/v1/scripts/{name}/run", json={"query": "x"}, headers=creator.headers
            )
            assert "event: error" not in response.text, response.text  # never refused
            with db.transaction() as session:  # beside the API, which would wait
                running = session.scalars(
                    select(Run.id).join(Script).where(Script.name == name, Run.status == "running")
                )
                assert list(running) == []
        await one_at_a_time.state.orchestrator.recorded()
        runs = (await client.get(f"/api/v1/scripts/{name}/runs", headers=creator.headers)).json()
        assert [run["status"] for run in runs["items"]] == ["ok"] * 12
        with db.transaction() as session:
            done = session.scalar(
                select(RunEvent.seq).where(
                    RunEvent.run_id == uuid.UUID(runs["items"][0]["id"]), RunEvent.type == "done"
                )
            )
        assert done is not None  # the transcript, done included


async def test_a_run_read_right_after_its_response_is_whole(
    client: httpx.AsyncClient, creator: CreatorInfo
) -> None:
    name = unique_name()
    await client.post(
        "/api/v1/scripts", json={"name": name, "source": 'print("hi")'}, headers=creator.headers
    )
    response = await client.post(
        f"/api/v1/scripts/{name}/run", json={"query": "x"}, headers=creator.headers
    )
    assert response.status_code == 200
    # No waiting here: the route waits for this replica's records still being written.
    (run,) = (await client.get(f"/api/v1/scripts/{name}/runs", headers=creator.headers)).json()[
        "items"
    ]
    one = await client.get(f"/api/v1/scripts/{name}/runs/{run['id']}", headers=creator.headers)
    events = [event["event"] for event in one.json()["transcript"]]
    assert events[0] == "meta" and events[-1] == "done" and "text" in events


async def test_a_transcript_too_large_to_write_before_done_follows_whole(
    one_at_a_time: FastAPI, db: Database, creator: CreatorInfo
) -> None:
    # A small transcript is written with the run's end, before done; this one is over
    # EARLY_TRANSCRIPT_BYTES, so the run's end goes first and its transcript after.
    lines = 90  # within the output limit of 100,000 characters
    assert lines * 1000 > EARLY_TRANSCRIPT_BYTES
    source = f'for i in range({lines}):\n    print(str(i).rjust(1000, "."))\n'
    transport = httpx.ASGITransport(app=one_at_a_time)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        name = unique_name()
        created = await client.post(
            "/api/v1/scripts", json={"name": name, "source": source}, headers=creator.headers
        )
        assert created.status_code == 201
        for _ in range(2):  # the second is admitted: the first left running before done
            response = await client.post(
                f"/api/v1/scripts/{name}/run", json={"query": "x"}, headers=creator.headers
            )
            assert "event: error" not in response.text[-2000:]
        await one_at_a_time.state.orchestrator.recorded()
        runs = (await client.get(f"/api/v1/scripts/{name}/runs", headers=creator.headers)).json()
        assert [run["status"] for run in runs["items"]] == ["ok", "ok"]
        for run in runs["items"]:
            with db.transaction() as session:
                kinds = list(
                    session.scalars(
                        select(RunEvent.type)
                        .where(RunEvent.run_id == uuid.UUID(run["id"]))
                        .order_by(RunEvent.seq)
                    )
                )
                texts = session.scalars(
                    select(RunEvent.data).where(
                        RunEvent.run_id == uuid.UUID(run["id"]), RunEvent.type == "text"
                    )
                )
                stored = "".join(data["text"] for data in texts)
            assert kinds[0] == "meta" and kinds[-1] == "done"
            assert stored.count("\n\n") == lines - 1 and stored.endswith(str(lines - 1))
