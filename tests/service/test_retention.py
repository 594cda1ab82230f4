"""Retention on SQLite and PostgreSQL: two sweeps at once (two replicas) delete every old
run with its transcript and files, old reports and orphan files, each row once, in batches,
and keep everything younger, unlinking a young nested run from its deleted caller."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from datetime import timedelta

from sqlalchemy import func, select

from service.runs.retention import Retention
from service.store.db import Database
from service.store.tables import File, FileChunk, Report, Run, RunEvent, Script, utcnow
from tests.conftest import CreatorInfo, unique_name

OLD_RUNS = 40
BATCH = 7  # small: the sweep takes several batches, and the two replicas interleave


def _script(db: Database, creator: CreatorInfo) -> int:
    with db.transaction() as session:
        name = unique_name()
        script = Script(
            creator_id=creator.id,
            name=name,
            name_key=name.lower(),
            settings={},
            current_version=1,
            created_at=utcnow(),
            updated_at=utcnow(),
        )
        session.add(script)
        session.flush()
        return script.id


def _run(script_id: int, age: timedelta, parent: uuid.UUID | None = None) -> Run:
    return Run(
        id=uuid.uuid4(),
        script_id=script_id,
        version=1,
        trigger="poe",
        status="ok",
        started_at=utcnow() - age,
        bot_calls=0,
        chars_out=0,
        parent_run_id=parent,
    )


def _file(run_id: uuid.UUID | None, creator_id: int, age: timedelta) -> tuple[File, FileChunk]:
    file_id = secrets.token_urlsafe(24)
    return (
        File(
            id=file_id,
            run_id=run_id,
            creator_id=creator_id,
            name="f.txt",
            content_type="text/plain",
            size=1,
            created_at=utcnow() - age,
        ),
        FileChunk(file_id=file_id, seq=0, data=b"x"),
    )


async def test_two_sweeps_at_once_delete_what_is_old_once(
    db: Database, creator: CreatorInfo
) -> None:
    script_id = _script(db, creator)
    old, young = timedelta(days=31), timedelta(days=29)
    with db.transaction() as session:
        runs = [_run(script_id, old) for _ in range(OLD_RUNS)]
        kept = _run(script_id, young, parent=runs[0].id)  # a young call of an old caller
        session.add_all([*runs, kept])
        session.flush()
        for run in [*runs, kept]:
            session.add(RunEvent(run_id=run.id, seq=0, type="meta", data={}))
            session.add_all(_file(run.id, creator.id, old if run is not kept else young))
        session.add_all(_file(None, creator.id, old))  # a file of no run
        session.add(
            Report(script_id=script_id, kind="feedback", data={}, received_at=utcnow() - old)
        )
        session.add(Report(script_id=script_id, kind="feedback", data={}, received_at=utcnow()))

    replicas = [Retention(db, retention_days=30, interval_s=3600, batch=BATCH) for _ in "ab"]
    first, second = await asyncio.gather(*(replica.sweep() for replica in replicas))

    assert first["runs"] + second["runs"] == OLD_RUNS  # each deleted once, none twice
    assert first["files"] + second["files"] == 1  # the run's files went with their runs
    assert first["reports"] + second["reports"] == 1
    with db.transaction() as session:
        mine = select(Run).where(Run.script_id == script_id)
        (left,) = session.scalars(mine).all()
        assert left.id == kept.id and left.parent_run_id is None
        events = session.scalar(
            select(func.count()).where(RunEvent.run_id.in_([r.id for r in runs]))
        )
        assert events == 0
        files = session.scalars(select(File.run_id).where(File.creator_id == creator.id)).all()
        assert files == [kept.id]
        assert session.scalar(select(func.count()).where(Report.script_id == script_id)) == 1
        chunks = select(func.count()).select_from(FileChunk).join(File)
        assert session.scalar(chunks.where(File.creator_id == creator.id)) == 1
