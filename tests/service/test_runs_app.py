"""The run parts of the app in process (httpx over ASGI, a real sandbox pool): the one log
line per run without secrets, /files, /readyz with the sandbox, /metrics."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI

from sandbox import Spool
from service.app import create_app
from service.logs import RUN_FIELDS, JsonFormatter
from service.runs.filestore import DatabaseAttachmentStore
from service.settings import Settings
from tests.conftest import CreatorInfo, unique_name

ACCESS_KEY = "PLANTEDaccessKEY0123456789abcdef"


async def test_a_run_logs_one_line_without_secrets(
    app: FastAPI,
    client: httpx.AsyncClient,
    creator: CreatorInfo,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    name = unique_name()
    source = 'print("PLANTED_SOURCE_MARKER" + poe.query.text)\n'
    created = await client.post(
        "/api/v1/scripts",
        json={"name": name, "source": source, "poe_access_key": ACCESS_KEY},
        headers=creator.headers,
    )
    assert created.status_code == 201
    response = await client.post(
        f"/api/v1/scripts/{name}/run",
        json={"query": "PLANTED_QUERY_TEXT"},
        headers=creator.headers,
    )
    assert response.status_code == 200
    assert "PLANTED_SOURCE_MARKERPLANTED_QUERY_TEXT" in response.text  # it did run
    await app.state.orchestrator.recorded()  # the record (and its log line) follow the response
    (line,) = [r for r in caplog.records if r.getMessage() == "run ended"]
    entry = json.loads(JsonFormatter().format(line))
    assert set(RUN_FIELDS) <= set(entry)
    assert (entry["script"], entry["creator"], entry["trigger"]) == (name, creator.name, "console")
    assert entry["status"] == "ok" and entry["bot_calls"] == 0 and entry["chars_out"] > 0
    assert entry["duration_ms"] >= 0 and entry["sandbox_start_ms"] > 0
    text = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    for secret in (creator.token, ACCESS_KEY, "PLANTED_SOURCE_MARKER", "PLANTED_QUERY_TEXT"):
        assert secret not in text


async def test_files_are_served_by_their_id_with_safe_headers(
    app: FastAPI, client: httpx.AsyncClient, creator: CreatorInfo
) -> None:
    store = DatabaseAttachmentStore(app.state.db, None, creator_id=creator.id)
    csv = await store.save("data; 1.csv", "text/csv", Spool.of(b"a,b\n1,2"))
    weird = await store.save("x.bin", "text/html\r\nX-Evil: 1", Spool.of(b"<script>"))
    html = await store.save("page.html", "text/html", Spool.of(b"<script>alert(1)</script>"))
    response = await client.get(f"/files/{csv}")
    assert response.status_code == 200 and response.content == b"a,b\n1,2"
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == "inline; filename*=UTF-8''data%3B%201.csv"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert (await client.get(f"/files/{weird}")).headers["content-type"] == (
        "application/octet-stream"
    )
    page = await client.get(f"/files/{html}")
    assert "sandbox" in page.headers["content-security-policy"]
    for missing in ("x" * 32, "short", "../etc/passwd", "a" * 65):
        answer = await client.get(f"/files/{missing}")
        assert answer.status_code in (404, 422) and "detail" in answer.json()
    assert (await store.load(csv)) is not None and (await store.load("nope")) is None


async def test_readyz_waits_for_a_warm_sandbox_and_metrics_count_runs(
    make_settings: Callable[..., Settings], creator: CreatorInfo
) -> None:
    app = create_app(make_settings())  # as `scriptbots serve` builds it
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            async with asyncio.timeout(60):
                while (ready := await client.get("/readyz")).status_code != 200:
                    await asyncio.sleep(0.05)
            body = ready.json()
            assert body["checks"] == {"database": "ok", "disk": "ok", "sandbox": "ok"}
            assert body["sandbox"]["warm"] is True
            assert set(body["sandbox"]["protections"]) >= {"seccomp", "rlimits"}
            name = unique_name()
            await client.post(
                "/api/v1/scripts",
                json={"name": name, "source": "1 / 0"},
                headers=creator.headers,
            )
            await client.post(
                f"/api/v1/scripts/{name}/run", json={"query": "x"}, headers=creator.headers
            )
            metrics = await client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    lines = metrics.text.splitlines()
    assert 'scriptbots_runs_total{status="error",trigger="console"} 1.0' in lines
    assert 'scriptbots_run_duration_seconds_bucket{le="+Inf"} 1.0' in lines
    assert "scriptbots_run_duration_seconds_count 1.0" in lines
    assert "scriptbots_active_runs 0.0" in lines
    assert "scriptbots_sandbox_pool_slots 128.0" in lines
    for state in ("busy", "spare"):  # live counts: spares are made and reaped meanwhile
        (line,) = [x for x in lines if f'pool_processes{{state="{state}"}}' in x]
        assert 0 <= float(line.rsplit(" ", 1)[1]) <= 128
    assert "scriptbots_sandbox_warm 1.0" in lines
