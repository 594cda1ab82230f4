"""Finding 3 of issue 12: a server killed mid-run (SIGKILL, as a crash or the OOM killer
would) leaves its run's row ``running``. Another server on the same database must stop
counting it against the creator's quota, and end it, once its lease runs out; on SQLite and
PostgreSQL, through real ``scriptbots serve`` processes. And a run that ends while the
database is away is recorded once it is back (the end is retried), not left running."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from service.runs.leases import STOPPED
from service.store.db import Database
from service.store.tables import Run, Script
from tests.conftest import HELLO_SOURCE, POSTGRES_URL, TEST_SECRET_KEY, unique_name
from tests.service.processes import Server, clean_environment, free_port, scriptbots
from tests.service.streams import bot_events, bot_stream

LEASE_S = 4
SLOW_SOURCE = 'import time\nprint("going")\ntime.sleep(300)\n'
BOUND_S = 60  # against hangs only: the lease and a reconcile round take about 6 s


def _script(base: str, token: str, source: str) -> str:
    name = unique_name("bot")
    response = httpx.post(
        f"{base}/api/v1/scripts",
        json={"name": name, "source": source},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return name


def _runs(db: Database, name: str) -> list[tuple[str, str | None]]:
    with db.transaction() as session:
        rows = session.execute(
            select(Run.status, Run.error).join(Script).where(Script.name == name)
        ).all()
    return [(status, error) for status, error in rows]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_killed_servers_run_is_ended_and_frees_the_quota(
    tmp_path: Path, backend: str, make_empty_database: Callable[[str], str]
) -> None:
    url = make_empty_database(backend)
    env = clean_environment(
        SCRIPTBOTS_DATABASE_URL=url,
        SCRIPTBOTS_SECRET_KEY=TEST_SECRET_KEY,
        SCRIPTBOTS_CREATOR_MAX_CONCURRENT_RUNS="1",
        SCRIPTBOTS_RUN_LEASE_S=str(LEASE_S),
    )
    db = Database(url)
    first = Server(cwd=tmp_path, env=env, port=free_port())
    try:
        base = first.wait_until_up()
        made = scriptbots("creator", "create", unique_name("c"), cwd=tmp_path, env=env)
        assert made.returncode == 0, made.stderr
        token = made.stdout.strip()
        slow, hello = _script(base, token, SLOW_SOURCE), _script(base, token, HELLO_SOURCE)
        with bot_stream(base, slow, token) as events:
            assert next(event for event in events if event[0] == "text") == (
                "text",
                {"text": "going"},
            )
            first.kill()  # mid-run: nothing records the run's end
        assert _runs(db, slow) == [("running", None)]

        second = Server(cwd=tmp_path, env=env, port=free_port())
        try:
            base = second.wait_until_up()
            deadline = time.monotonic() + BOUND_S
            while True:  # the creator's one place is held by the dead run until its lease ends
                events = bot_events(base, hello, token)
                if ("text", {"text": "Hello from a script bot"}) in events:
                    break
                assert events[-2][0] == "error" and "runs in progress" in events[-2][1]["text"]
                assert time.monotonic() < deadline, "the dead run still counts"
                time.sleep(0.5)
            while _runs(db, slow) != [("killed", STOPPED)]:
                assert time.monotonic() < deadline, _runs(db, slow)
                time.sleep(0.2)
        finally:
            second.stop()
    finally:
        first.stop()
        db.dispose()


RECORDED_SOURCE = 'import time\nprint("going")\ntime.sleep(2)\nprint("over")\n'
OUTAGE_S = 6


def _database_reachable(admin_url: str, database: str, reachable: bool) -> None:
    """Let no one connect to ``database`` (and drop those connected), or let them again."""
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(
            f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS {str(reachable).lower()}'
        )
        if not reachable:
            connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (database,),
            )


def test_a_run_ending_during_a_database_outage_is_recorded_after_it(
    tmp_path: Path, make_postgres_database: Callable[[], str]
) -> None:
    url = make_postgres_database()
    database = make_url(url).database
    assert database is not None
    admin = make_url(POSTGRES_URL).set(drivername="postgresql")
    admin_url = admin.render_as_string(hide_password=False)
    env = clean_environment(
        SCRIPTBOTS_DATABASE_URL=url,
        SCRIPTBOTS_SECRET_KEY=TEST_SECRET_KEY,
        SCRIPTBOTS_CREATOR_MAX_CONCURRENT_RUNS="1",
    )
    db = Database(url)
    server = Server(cwd=tmp_path, env=env, port=free_port())
    try:
        base = server.wait_until_up()
        made = scriptbots("creator", "create", unique_name("c"), cwd=tmp_path, env=env)
        assert made.returncode == 0, made.stderr
        token = made.stdout.strip()
        name = _script(base, token, RECORDED_SOURCE)
        with bot_stream(base, name, token) as events:
            seen = [next(events)]
            while seen[-1][0] != "text":
                seen.append(next(events))
            _database_reachable(admin_url, database, False)  # the run ends meanwhile
            try:
                seen += list(events)
                time.sleep(OUTAGE_S)
            finally:
                _database_reachable(admin_url, database, True)
        assert seen[-1] == ("done", {}) and ("error" not in {event for event, _ in seen})
        deadline = time.monotonic() + BOUND_S
        while _runs(db, name) != [("ok", None)]:
            assert time.monotonic() < deadline, _runs(db, name)
            time.sleep(0.2)
        again = bot_events(base, name, token)  # the creator's place is free again
        assert ("text", {"text": "going"}) in again, again
    finally:
        server.stop()
        db.dispose()
