"""Storage is bounded per run and per creator, and old records go (issue 11), through the API
of real servers: the transcript cap and its rewrite merging, the creator's files cap, and
retention run by two replicas at once on one SQLite file and on one PostgreSQL database."""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import secrets
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import fastapi_poe as fp
import httpx
import pytest
from sqlalchemy import func, select, update

from service.store.tables import File, FileChunk, Report, Run, RunEvent, Script, utcnow
from tests.conftest import CreatorInfo
from tests.contract.conftest import Service, _serve, ask, bot_events, console_events, text_of
from tests.upstream import ACCESS_KEY, Upstream, wait_until

pytestmark = pytest.mark.asyncio(loop_scope="session")

MIB = 1024 * 1024
OVERWRITE_STORM = """
import time
msg = poe.start_message()
for i in range(120):
    msg.overwrite("storm " * 8000 + str(i))
    time.sleep(0.04)  # past the 30 ms coalescing window: each is a replace_response
"""
LONG_STREAM = """
import time
for i in range(150):
    print("x" * 9999)  # 10,000 characters with the newline: 1.5 MB in all
    time.sleep(0.02)
"""
ATTACH_600_KB = """
try:
    poe.default_chat.start_message().attach_file(name="{name}", contents=bytes(600 * 1024))
    print("stored")
except poe.BotError as exc:
    print(exc)
"""


@pytest.fixture(scope="module")
def bounded(tmp_path_factory: pytest.TempPathFactory, upstream: Upstream) -> Iterator[Service]:
    """A server with small bounds: 1 MB of transcript per run, 1 MB of files per creator."""
    workdir = tmp_path_factory.mktemp("bounded")
    yield from _serve(
        workdir,
        upstream,
        f"sqlite:///{workdir / 'scriptbots.db'}",
        SCRIPTBOTS_RUN_TIMEOUT_S="30",
        SCRIPTBOTS_RUN_CPU_S="10",
        SCRIPTBOTS_RUN_MAX_OUTPUT_CHARS="3000000",
        SCRIPTBOTS_RUN_MAX_TRANSCRIPT_MB="1",
        SCRIPTBOTS_CREATOR_MAX_FILES_MB="1",
    )


def _console_run(service: Service, creator: CreatorInfo, name: str) -> dict:
    (run,) = service.runs(creator, name)[:1]
    return service.run(creator, name, run["id"])


async def test_an_overwrite_storm_stores_the_latest_response_only(bounded: Service) -> None:
    creator = bounded.creator()
    name = bounded.script(creator, OVERWRITE_STORM)
    events = await console_events(bounded, creator, name, {"query": "go"})
    sent = [event for event, _ in events]
    assert sent.count("replace_response") > 20, sent  # the client saw the storm...
    stored = _console_run(bounded, creator, name)["transcript"]
    kinds = [entry["event"] for entry in stored]
    assert kinds == ["meta", "replace_response", "done"], kinds  # ...the record its end
    assert stored[1]["data"]["text"] == text_of(events) == "storm " * 8000 + "119"


async def test_a_transcript_past_its_limit_ends_with_a_marker(bounded: Service) -> None:
    creator = bounded.creator()
    name = bounded.script(creator, LONG_STREAM)
    events = await console_events(bounded, creator, name, {"query": "go"})
    assert len(text_of(events)) > 1_490_000  # the client gets everything
    run = _console_run(bounded, creator, name)
    assert run["status"] == "ok"
    kinds = [entry["event"] for entry in run["transcript"]]
    assert kinds[-2:] == ["transcript_truncated", "done"], kinds[-5:]
    assert "limit of 1 MB" in run["transcript"][-2]["data"]["text"]
    stored_bytes = sum(len(json.dumps(entry["data"])) for entry in run["transcript"])
    assert 0.9 * MIB < stored_bytes <= MIB + 1000


async def test_attachments_past_the_creators_limit_are_refused(bounded: Service) -> None:
    creator, other = bounded.creator(), bounded.creator()
    first = bounded.script(creator, ATTACH_600_KB.format(name="a.bin"))
    second = bounded.script(creator, ATTACH_600_KB.format(name="b.bin"))
    theirs = bounded.script(other, ATTACH_600_KB.format(name="c.bin"))
    stored = await console_events(bounded, creator, first, {"query": "go"})
    files = [data for event, data in stored if event == "file"]
    assert len(files) == 1 and "stored" in text_of(stored)
    assert len(httpx.get(files[0]["url"], timeout=30).content) == 600 * 1024
    refused = await console_events(bounded, creator, second, {"query": "go"})
    assert [event for event, _ in refused if event == "file"] == []
    assert "'b.bin' (0.6 MB) was not stored" in text_of(refused)
    assert "keeps 0.6 MB of attachments, and the limit is 1 MB" in text_of(refused)
    with bounded.db.transaction() as session:
        kept = session.scalar(select(func.count()).where(File.creator_id == creator.id))
    assert kept == 1  # nothing of the refused one
    # The limit is the creator's: another creator's script stores its own.
    assert "stored" in text_of(await console_events(bounded, other, theirs, {"query": "go"}))


# -- retention, on two replicas at once ----------------------------------------------------

OLD_RUNS = 1_300  # more than two batches of 500 for each replica
OLD = timedelta(days=31)


@pytest.fixture(params=["sqlite", "postgres"])
def replicas(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    upstream: Upstream,
    make_postgres_database: Callable[[], str],
) -> Iterator[tuple[Service, Service]]:
    """Two servers on one database, each sweeping every second."""
    workdir = tmp_path_factory.mktemp(f"retention-{request.param}")
    url = (
        f"sqlite:///{workdir / 'scriptbots.db'}"
        if request.param == "sqlite"
        else make_postgres_database()
    )
    with contextlib.ExitStack() as stack:
        services = []
        for replica in ("a", "b"):
            home = workdir / replica
            home.mkdir()
            serve = contextlib.contextmanager(_serve)
            services.append(
                stack.enter_context(serve(home, upstream, url, SCRIPTBOTS_RETENTION_INTERVAL_S="1"))
            )
        yield services[0], services[1]


def _plant_old_runs(service: Service, script_id: int, creator_id: int) -> None:
    """Runs 31 days old, with transcripts, files and reports, written as the service would."""
    started = utcnow() - OLD
    ids = [uuid.uuid4() for _ in range(OLD_RUNS)]
    with service.db.transaction() as session:
        session.execute(
            Run.__table__.insert(),
            [
                {
                    "id": run_id,
                    "script_id": script_id,
                    "version": 1,
                    "trigger": "poe",
                    "status": "ok",
                    "started_at": started,
                    "bot_calls": 0,
                    "chars_out": 5,
                }
                for run_id in ids
            ],
        )
        session.execute(
            RunEvent.__table__.insert(),
            [
                {"run_id": run_id, "seq": seq, "type": kind, "data": {}}
                for run_id in ids
                for seq, kind in enumerate(("meta", "text", "done"))
            ],
        )
        files = [secrets.token_urlsafe(24) for _ in ids[:200]]
        session.execute(
            File.__table__.insert(),
            [
                {
                    "id": file_id,
                    "run_id": run_id,
                    "creator_id": creator_id,
                    "name": "old.txt",
                    "content_type": "text/plain",
                    "size": 3,
                    "created_at": started,
                }
                for file_id, run_id in zip(files, ids, strict=False)
            ],
        )
        session.execute(
            FileChunk.__table__.insert(),
            [{"file_id": file_id, "seq": 0, "data": b"old"} for file_id in files],
        )
        session.execute(
            Report.__table__.insert(),
            [
                {
                    "script_id": script_id,
                    "run_id": run_id,
                    "kind": "feedback",
                    "data": {},
                    "received_at": started,
                }
                for run_id in ids[:100]
            ],
        )


async def test_old_runs_files_and_reports_are_deleted_by_every_replica(
    replicas: tuple[Service, Service],
) -> None:
    first, second = replicas
    creator = first.creator()
    name = first.script(
        creator,
        'poe.default_chat.start_message().attach_file(name="f.txt", '
        'contents=b"kept")\nprint("fresh")\n',
    )
    old_run_events = await console_events(first, creator, name, {"query": "old"})
    old_file = next(data["url"] for event, data in old_run_events if event == "file")
    (old_run,) = first.runs(creator, name)
    with first.db.transaction() as session:
        script_id = session.scalar(select(Script.id).where(Script.name == name))
        run_id = uuid.UUID(old_run["id"])
        session.execute(update(Run).where(Run.id == run_id).values(started_at=utcnow() - OLD))
        session.execute(update(File).where(File.run_id == run_id).values(created_at=utcnow() - OLD))
    assert script_id is not None
    _plant_old_runs(first, script_id, creator.id)
    fresh = await console_events(second, creator, name, {"query": "new"})
    fresh_file = next(data["url"] for event, data in fresh if event == "file")

    def remaining() -> tuple[int, int, int]:
        with first.db.transaction() as session:
            return (
                session.scalar(select(func.count()).select_from(Run)) or 0,
                session.scalar(select(func.count()).select_from(File)) or 0,
                session.scalar(select(func.count()).select_from(Report)) or 0,
            )

    wait_until(lambda: remaining() == (1, 1, 0), timeout_s=60)
    with first.db.transaction() as session:  # the old files' bytes went with them
        assert session.scalar(select(func.count()).select_from(FileChunk)) == 1
    (kept,) = second.runs(creator, name)
    assert kept["id"] != old_run["id"]
    with first.db.transaction() as session:
        others = select(func.count()).where(RunEvent.run_id != uuid.UUID(kept["id"]))
        assert session.scalar(others) == 0  # the old transcripts went with their runs
    assert first.api("GET", f"/scripts/{name}/runs/{old_run['id']}", creator).status_code == 404
    assert httpx.get(old_file, timeout=10).status_code == 404
    assert httpx.get(fresh_file, timeout=10).content == b"kept"
    for service in replicas:
        log = Path(service.server.log_path).read_text()
        assert "retention round failed" not in log, log[-3000:]


# -- attachment bytes in pieces -------------------------------------------------------------

RANDOM_FILE = """
import hashlib, random
data = random.Random(7).randbytes(3_000_000)  # twelve channel chunks, three stored rows
poe.default_chat.start_message().attach_file(name="r.bin", contents=data)
print(hashlib.sha256(data).hexdigest())
"""
FETCHED_DIGEST = """
import hashlib
(attachment,) = poe.query.attachments
print(hashlib.sha256(attachment.get_contents()).hexdigest())
"""


async def test_attachment_bytes_cross_the_server_intact_in_pieces(service: Service) -> None:
    expected = hashlib.sha256(random.Random(7).randbytes(3_000_000)).hexdigest()
    creator = service.creator()
    maker = service.script(creator, RANDOM_FILE, access_key=ACCESS_KEY)
    reader = service.script(
        creator, FETCHED_DIGEST, settings={"allow_attachments": True}, access_key=ACCESS_KEY
    )
    kept = await console_events(service, creator, maker, {"query": "go"})
    assert text_of(kept).strip() == expected
    (url,) = [data["url"] for event, data in kept if event == "file"]
    served = httpx.get(url, timeout=30)
    assert served.headers["content-length"] == "3000000"
    assert hashlib.sha256(served.content).hexdigest() == expected  # stored and served
    message = fp.ProtocolMessage(
        role="user",
        content="digest",
        attachments=[fp.Attachment(url=url, content_type="application/octet-stream", name="r")],
    )
    assert (await ask(service, reader, ACCESS_KEY, message)).strip() == expected  # fetched
    # From Poe, with the access key: uploaded to Poe's endpoint, streamed from the spool.
    to_poe = await bot_events(service, maker, ACCESS_KEY, "go")
    (poe_url,) = [data["url"] for event, data in to_poe if event == "file"]
    assert poe_url.startswith(service.upstream.root)
    assert hashlib.sha256(httpx.get(poe_url, timeout=30).content).hexdigest() == expected
