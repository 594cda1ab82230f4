"""/healthz and /readyz (SPEC §9), and the readiness hook later parts register in."""

from __future__ import annotations

import httpx
from fastapi import FastAPI


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_readyz_checks_the_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "disk": "ok"},
    }


async def test_readyz_answers_503_while_a_registered_part_is_not_ready(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    warm = False

    async def sandbox_pool_warm() -> bool:
        return warm

    def broken() -> None:
        raise RuntimeError("not yet")

    app.state.readiness["sandbox"] = sandbox_pool_warm
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "disk": "ok", "sandbox": "failing"}
    assert "sandbox" in response.json()["detail"]
    warm = True
    assert (await client.get("/readyz")).status_code == 200
    app.state.readiness["other"] = broken
    assert (await client.get("/readyz")).json()["checks"]["other"] == "failing"
