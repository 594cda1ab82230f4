"""CREATOR_MAX_CONCURRENT_RUNS in the database, on SQLite and PostgreSQL: admission counts the
creator's running rows in the transaction that inserts the new one, so that concurrent
admissions (threads with their own connections, as replicas would be) never overshoot, and
rows a dead process left behind stop counting once their lease ran out (or, without a lease,
after the time limit)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import timedelta

from service.runs.leases import STOPPED, expire_dead_runs
from service.runs.quotas import admit_run, stale_after
from service.sources import check_script_source
from service.store import scripts as store
from service.store.db import Database
from service.store.runs import new_run
from service.store.tables import Run, utcnow
from tests.conftest import CreatorInfo, unique_name

TIMEOUT_S = 120


def make_script(db: Database, creator: CreatorInfo) -> int:
    with db.transaction() as session:
        script, _ = store.create_script(
            session, creator.id, unique_name(), check_script_source("x = 1"), {}, None
        )
        return script.id


def admit(
    db: Database, creator: CreatorInfo, script_id: int, max_runs: int, **times: object
) -> bool:
    run = new_run(
        run_id=uuid.uuid4(),
        script_id=script_id,
        version=1,
        trigger="poe",
        started_at=times.get("started_at", utcnow()),  # type: ignore[arg-type]
        message_id=None,
        user_id=None,
        conversation_id=None,
        parent_run_id=None,
    )
    with db.transaction() as session:
        return admit_run(
            session,
            run,
            creator_id=creator.id,
            max_concurrent=max_runs,
            run_timeout_s=TIMEOUT_S,
            lease_until=times.get("lease_until"),  # type: ignore[arg-type]
        )


def statuses(db: Database, script_id: int) -> list[str]:
    with db.transaction() as session:
        rows = session.query(Run.status).filter(Run.script_id == script_id).all()
    return sorted(status for (status,) in rows)


def test_runs_past_the_quota_are_recorded_rejected(
    db: Database, creator: CreatorInfo, make_creator: Callable[..., CreatorInfo]
) -> None:
    first, second = make_script(db, creator), make_script(db, creator)
    assert [admit(db, creator, first, 3) for _ in range(2)] == [True, True]
    assert admit(db, creator, second, 3) is True  # all of the creator's scripts count
    assert admit(db, creator, second, 3) is False
    assert statuses(db, second) == ["rejected", "running"]
    other = make_creator()
    assert admit(db, other, make_script(db, other), 3) is True  # creators are apart


def test_stale_running_rows_do_not_count_and_are_expired(
    db: Database, creator: CreatorInfo
) -> None:
    script = make_script(db, creator)
    long_ago = utcnow() - stale_after(TIMEOUT_S) - timedelta(seconds=1)
    assert admit(db, creator, script, 1, started_at=long_ago) is True
    assert admit(db, creator, script, 1) is True  # the old row is ignored
    assert admit(db, creator, script, 1) is False
    with db.transaction() as session:
        assert expire_dead_runs(session, utcnow(), utcnow() - stale_after(TIMEOUT_S)) >= 1
    assert statuses(db, script) == ["killed", "rejected", "running"]


def test_runs_whose_lease_ran_out_do_not_count_and_are_ended(
    db: Database, creator: CreatorInfo
) -> None:
    script = make_script(db, creator)
    past, future = utcnow() - timedelta(seconds=1), utcnow() + timedelta(seconds=60)
    assert admit(db, creator, script, 1, lease_until=past) is True  # its process died
    assert admit(db, creator, script, 1, lease_until=future) is True  # the dead one is ignored
    assert admit(db, creator, script, 1, lease_until=future) is False  # the live one counts
    with db.transaction() as session:
        assert expire_dead_runs(session, utcnow(), utcnow() - stale_after(TIMEOUT_S)) >= 1
        rows = session.query(Run.status, Run.error).filter(Run.script_id == script).all()
    assert sorted(rows, key=str) == sorted(
        [("killed", STOPPED), ("running", None), ("rejected", None)], key=str
    )


def test_concurrent_admissions_never_overshoot(db: Database, creator: CreatorInfo) -> None:
    script = make_script(db, creator)
    others = [Database(str(db.engine.url.render_as_string(hide_password=False))) for _ in range(2)]
    results: list[bool] = []
    barrier = threading.Barrier(12)

    def contender(database: Database) -> None:
        barrier.wait()
        results.append(admit(database, creator, script, 4))

    threads = [threading.Thread(target=contender, args=(others[i % 2],)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for database in others:
        database.dispose()
    assert sorted(results) == [False] * 8 + [True] * 4
    assert statuses(db, script).count("running") == 4
