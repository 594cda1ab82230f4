"""Metrics in-process: route templates for requests answered before routing or as HEAD,
database errors counted from the engine. Real queries to a real server: tests/contract."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from service.metrics import Metrics
from service.store.db import Database


def samples(text_: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text_)
        for s in family.samples
    }


def requests(metrics: str, method: str, route: str, status: str) -> float:
    labels = frozenset({("method", method), ("route", route), ("status", status)})
    return samples(metrics).get(("scriptbots_http_requests_total", labels), 0.0)


async def test_head_counts_under_its_route_and_a_refused_body_as_unmatched(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    assert (await client.head("/healthz")).status_code == 200
    too_big = await client.post(
        "/api/v1/scripts", content=b"x" * (9 * 1024 * 1024), headers={"content-type": "a/b"}
    )
    assert too_big.status_code == 413
    metrics = (await client.get("/metrics")).text
    assert requests(metrics, "HEAD", "/healthz", "200") == 1
    assert requests(metrics, "POST", "unmatched", "413") == 1  # refused before routing
    assert requests(metrics, "GET", "/metrics", "200") == 0  # counted once it has answered
    again = (await client.get("/metrics")).text
    assert requests(again, "GET", "/metrics", "200") == 1


def test_database_errors_count_by_exception_class(sqlite_url: str) -> None:
    metrics = Metrics()
    db = Database(sqlite_url)
    metrics.watch_database(db.engine)
    try:
        with pytest.raises(OperationalError), db.transaction() as session:
            session.execute(text("SELECT * FROM no_such_table"))
    finally:
        db.dispose()
    figures = samples(metrics.render().decode())
    key = ("scriptbots_database_errors_total", frozenset({("error", "OperationalError")}))
    assert figures[key] == 1


def test_runs_are_listed_at_zero_before_any_has_ended() -> None:
    figures = samples(Metrics().render().decode())
    labels = frozenset({("status", "timeout"), ("trigger", "poe")})
    assert figures[("scriptbots_runs_total", labels)] == 0
