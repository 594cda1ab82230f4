"""`scriptbots serve` as real processes, spoken to over HTTP: one process, several workers,
and two replicas on one PostgreSQL database behaving as one service (SPEC §9)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import httpx

from tests.conftest import HELLO_SOURCE, unique_name
from tests.service.processes import Server, clean_environment, free_port, scriptbots, serving


def _token(workdir: Path, env: dict[str, str]) -> dict[str, str]:
    done = scriptbots("creator", "create", unique_name("c"), cwd=workdir, env=env)
    assert done.returncode == 0, done.stderr
    return {"Authorization": f"Bearer {done.stdout.strip()}"}


def test_serve_migrates_then_answers_http(tmp_path: Path) -> None:
    env = clean_environment(SCRIPTBOTS_DATABASE_URL=f"sqlite:///{tmp_path / 'fresh.sqlite'}")
    port = free_port()
    with serving(cwd=tmp_path, env=env, port=port) as base:
        deadline = time.monotonic() + 60  # ready once the sandbox template is warm too
        while (ready := httpx.get(f"{base}/readyz").json())["status"] == "not ready":
            assert time.monotonic() < deadline, ready
            time.sleep(0.05)
        assert ready["checks"] == {"database": "ok", "disk": "ok", "sandbox": "ok"}
        headers = _token(tmp_path, env)
        name = unique_name()
        created = httpx.post(
            f"{base}/api/v1/scripts", json={"name": name, "source": HELLO_SOURCE}, headers=headers
        )
        assert created.status_code == 201
        assert created.json()["bot_url"] == f"http://127.0.0.1:{port}/bots/{name}"
        assert httpx.get(f"{base}/api/v1/scripts/{name}", headers=headers).status_code == 200
        assert httpx.get(f"{base}/no/such/route").json() == {"detail": "Not Found"}
    log = (tmp_path / f"serve-{port}.log").read_text()
    assert headers["Authorization"].split()[1] not in log  # tokens never reach the logs
    assert all(line.startswith("{") for line in log.splitlines() if line)  # JSON lines
    # A request's access line is at debug, below the default level (issue 13).
    assert "uvicorn.access" not in log and "/api/v1/scripts" not in log


def test_serve_with_several_workers(tmp_path: Path) -> None:
    env = clean_environment(
        SCRIPTBOTS_DATABASE_URL=f"sqlite:///{tmp_path / 'w.sqlite'}", SCRIPTBOTS_LOG_LEVEL="debug"
    )
    port = free_port()
    with serving("--workers", "2", "--host", "127.0.0.1", cwd=tmp_path, env=env, port=port) as base:
        headers = _token(tmp_path, env)
        names = [unique_name() for _ in range(6)]
        with httpx.Client(base_url=base, headers=headers) as http:
            for name in names:  # new connections land on either worker
                response = http.post(
                    "/api/v1/scripts",
                    json={"name": name, "source": HELLO_SOURCE},
                    headers={"Connection": "close"},
                )
                assert response.status_code == 201, response.text
                assert response.json()["bot_url"].startswith(f"http://127.0.0.1:{port}/")
            listed = http.get("/api/v1/scripts").json()
        assert sorted(s["name"] for s in listed["items"]) == sorted(names)
    log = (tmp_path / f"serve-{port}.log").read_text()
    entries = [json.loads(line) for line in log.splitlines()]
    access = [e for e in entries if e["logger"] == "uvicorn.access" and "POST" in e["message"]]
    assert len(access) == len(names)  # the workers log as JSON lines too, at the level asked
    assert {e["level"] for e in access} == {"debug"}


def test_serve_refuses_a_worker_count_below_one(tmp_path: Path) -> None:
    done = scriptbots("serve", "--workers", "0", cwd=tmp_path, env=clean_environment())
    assert done.returncode == 2 and "--workers" in done.stderr


def test_two_replicas_on_one_postgres_database(
    tmp_path: Path, make_postgres_database: Callable[[], str]
) -> None:
    env = clean_environment(
        SCRIPTBOTS_DATABASE_URL=make_postgres_database(),
        SCRIPTBOTS_SECRET_KEY="a secret key shared by the replicas",
    )
    with ExitStack() as stack:
        # Both start at once on an empty database: the migration lock lets one migrate.
        servers = [Server(cwd=tmp_path, env=env, port=free_port()) for _ in range(2)]
        for server in servers:
            stack.callback(server.stop)
        first, second = (server.wait_until_up() for server in servers)
        headers = _token(tmp_path, env)
        name = unique_name()
        key = "R" * 32
        created = httpx.post(
            f"{first}/api/v1/scripts",
            json={"name": name, "source": HELLO_SOURCE, "poe_access_key": key},
            headers=headers,
        )
        assert created.status_code == 201
        seen = httpx.get(f"{second}/api/v1/scripts/{name}", headers=headers)
        assert seen.status_code == 200 and seen.json()["has_access_key"] is True
        taken = httpx.post(
            f"{second}/api/v1/scripts",
            json={"name": name.upper(), "source": HELLO_SOURCE},
            headers=headers,
        )
        assert taken.status_code == 409
