"""/healthz and /readyz (SPEC §9), and the readiness hook later parts register in."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from sandbox.isolation.status import PROTECTIONS, build_status


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


async def test_readyz_is_degraded_while_protections_are_missing(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server without root (issue 13): still ready (200, SPEC §9), but it says so."""
    report = {name: (True, "given") for name in PROTECTIONS}
    report["cgroup_memory"] = (False, "needs root to create and delegate cgroups")
    report["pid_namespace"] = (False, "needs root (the template cannot make one)")
    status = build_status(True, report)
    monkeypatch.setattr(app.state.orchestrator, "sandbox_status", lambda: status)
    response = await client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["degraded"] == ["cgroup_memory", "pid_namespace"]
    assert body["sandbox"]["protections"]["pid_namespace"].startswith("missing: needs root")
    detail = body["detail"]
    assert f"{len(PROTECTIONS) - 2} of {len(PROTECTIONS)}" in detail
    assert "cgroup_memory (needs root" in detail and "sudo make run" in detail


def test_a_complete_sandbox_has_no_warning() -> None:
    complete = build_status(True, {name: (True, "given") for name in PROTECTIONS})
    assert complete.warning() is None and complete.complete
