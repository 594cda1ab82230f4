"""Logs are JSON lines, and secrets planted in requests never reach them (STYLE: logging)."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from service.logs import JsonFormatter
from tests.conftest import CreatorInfo, unique_name


def test_json_formatter_writes_one_object_with_extra_fields() -> None:
    record = logging.LogRecord("service.runs", logging.INFO, __file__, 1, "run %s", ("done",), None)
    record.run_id = "r1"
    record.duration_ms = 12
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "run done" and entry["level"] == "info"
    assert entry["logger"] == "service.runs"
    assert (entry["run_id"], entry["duration_ms"]) == ("r1", 12)


def test_json_formatter_keeps_exceptions_on_one_line() -> None:
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), True)
        record.exc_info = __import__("sys").exc_info()
    entry = json.loads(JsonFormatter().format(record))
    assert "ValueError" in entry["exception"]


async def test_planted_secrets_never_reach_the_logs(
    client: httpx.AsyncClient, creator: CreatorInfo, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    access_key = "PLANTEDaccessKEY0123456789abcdef"
    marker = "PLANTED_SOURCE_MARKER"
    name = unique_name()
    source = f'print("{marker}")\n'
    await client.post(
        "/api/v1/scripts",
        json={"name": name, "source": source, "poe_access_key": access_key},
        headers=creator.headers,
    )
    await client.patch(
        f"/api/v1/scripts/{name}", json={"source": source + "#\n"}, headers=creator.headers
    )
    await client.post(
        "/api/v1/scripts", json={"name": name, "source": "x = _y"}, headers=creator.headers
    )
    await client.get("/api/v1/scripts", headers={"Authorization": "Bearer sb_PLANTEDbadToken"})
    formatter = JsonFormatter()
    text = "\n".join(formatter.format(r) for r in caplog.records)
    for secret in (creator.token, access_key, marker, "sb_PLANTEDbadToken"):
        assert secret not in text
