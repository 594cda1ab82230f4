"""Finding 4 of issue 12: SIGTERM to a real ``scriptbots serve`` mid-stream. New queries are
refused at once; a run that ends within SHUTDOWN_GRACE_S finishes normally (through the real
fastapi_poe client); a run still going after it ends with an ``error`` event and ``done``
(SPEC §7, §10) and is recorded ``killed`` with the reason, and so does one that was waiting for
a sandbox slot at the signal; then the server exits."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import fastapi_poe as fp
import httpx
import httpx_sse
from sqlalchemy import select

from service.shutdown import RESTARTING
from service.store.db import Database
from service.store.tables import Run, Script
from tests.conftest import TEST_SECRET_KEY, unique_name
from tests.service.processes import Server, clean_environment, free_port, scriptbots
from tests.service.streams import Event, query_body
from tests.service.test_stuck_runs import SLOW_SOURCE, _script

GRACE_S = 4
SHORT_SOURCE = 'import time\nprint("start")\ntime.sleep(1.5)\nprint("end")\n'


async def _raw_stream(base: str, name: str, token: str, first_text: asyncio.Event) -> list[Event]:
    events: list[Event] = []
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx.AsyncClient(timeout=60) as client,
        httpx_sse.aconnect_sse(
            client, "POST", f"{base}/bots/{name}", json=query_body(), headers=headers
        ) as source,
    ):
        async for sse in source.aiter_sse():
            if sse.event != "ping":
                events.append((sse.event, json.loads(sse.data)))
            if sse.event == "text":
                first_text.set()
    return events


async def _poe_client(base: str, name: str, token: str, first_text: asyncio.Event) -> str:
    message = fp.ProtocolMessage(role="user", content="Hello")
    text = ""
    async for part in fp.get_bot_response(
        messages=[message], bot_name=name, api_key=token, base_url=f"{base}/bots/"
    ):
        text += part.text
        first_text.set()
    return text


async def test_sigterm_mid_stream_ends_every_stream_with_done(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'scriptbots.db'}"
    env = clean_environment(
        SCRIPTBOTS_DATABASE_URL=url,
        SCRIPTBOTS_SECRET_KEY=TEST_SECRET_KEY,
        SCRIPTBOTS_SHUTDOWN_GRACE_S=str(GRACE_S),
        SCRIPTBOTS_SANDBOX_SLOTS="2",  # the slow run and the short one; a third one waits
    )
    server = Server(cwd=tmp_path, env=env, port=free_port())
    db = Database(url)
    try:
        base = server.wait_until_up()
        made = scriptbots("creator", "create", unique_name("c"), cwd=tmp_path, env=env)
        assert made.returncode == 0, made.stderr
        token = made.stdout.strip()
        slow, short = _script(base, token, SLOW_SOURCE), _script(base, token, SHORT_SOURCE)
        slow_going, short_going = asyncio.Event(), asyncio.Event()
        slow_run = asyncio.create_task(_raw_stream(base, slow, token, slow_going))
        short_run = asyncio.create_task(_poe_client(base, short, token, short_going))
        async with asyncio.timeout(60):
            await slow_going.wait()
            await short_going.wait()
        queued = asyncio.create_task(_raw_stream(base, slow, token, asyncio.Event()))
        await asyncio.sleep(1)  # admitted, waiting for a slot
        os.kill(server.process.pid, signal.SIGTERM)  # as Kubernetes or docker stop send it
        await asyncio.sleep(0.5)
        try:  # the listening socket is closed, or the query is refused
            refused = httpx.post(
                f"{base}/bots/{short}",
                json=query_body(),
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            )
            assert refused.status_code == 503, refused.text
        except httpx.TransportError:
            pass

        async with asyncio.timeout(60):
            text = await short_run
            events = await slow_run
            waited = await queued
        assert "start" in text and "end" in text  # finished inside the grace
        restarting = [("error", {"allow_retry": False, "text": RESTARTING}), ("done", {})]
        assert events[-2:] == restarting
        assert waited[0][0] == "meta" and waited[-2:] == restarting  # queued, then the short
        # one's slot (it may start in the grace), or still queued: either way, ended.
        # Uvicorn re-raises the signal once it has shut down: the default action ends it.
        assert await asyncio.to_thread(server.process.wait, 60) in (0, -signal.SIGTERM)
        assert "Finished server process" in server.log_path.read_text()

        with db.transaction() as session:
            rows = session.execute(
                select(Script.name, Run.status, Run.error)
                .join(Script)
                .where(Script.name.in_([slow, short]))
            ).all()
        assert sorted(rows) == sorted(
            [(slow, "killed", RESTARTING), (slow, "killed", RESTARTING), (short, "ok", None)]
        )
    finally:
        server.stop()
        db.dispose()
