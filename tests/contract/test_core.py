"""The core flow on SQLite and on PostgreSQL: a script uploaded through the REST API answers
the real fastapi_poe client, streams as it writes, and its runs are visible in the API."""

from __future__ import annotations

import asyncio
import time

import fastapi_poe as fp

from tests.contract.conftest import (
    Service,
    ask,
    bot_events,
    console_events,
    query_request,
    responses,
    text_of,
)

STREAMING = """
import time
print("Hello,", poe.query.text)
with poe.start_message() as msg:
    for word in ["one", "two", "three"]:
        msg.write(word + " ")
        time.sleep(0.15)
"""


async def test_a_script_answers_the_fastapi_poe_client(any_service: Service) -> None:
    creator = any_service.creator()
    name = any_service.script(creator, 'print("Hello from", poe.bot_name, "to", poe.query.text)')
    parts = await responses(any_service, name, creator.token, "world")
    assert isinstance(parts[0], fp.MetaResponse)
    assert "".join(p.text for p in parts[1:]) == f"Hello from {name} to world"


async def test_writes_stream_as_they_happen(any_service: Service) -> None:
    creator = any_service.creator()
    name = any_service.script(creator, STREAMING)
    arrivals: list[tuple[float, str]] = []
    started = time.monotonic()
    async for part in fp.stream_request(
        query_request("you"), name, creator.token, base_url=any_service.bots_base, num_tries=1
    ):
        if not isinstance(part, fp.MetaResponse):
            arrivals.append((time.monotonic() - started, part.text))
    assert "".join(text for _, text in arrivals) == "Hello, you\n\none two three "
    assert len(arrivals) >= 3  # not one block at the end
    assert arrivals[-1][0] - arrivals[0][0] >= 0.25


async def test_console_run_sends_the_bot_endpoints_events(any_service: Service) -> None:
    creator = any_service.creator()
    name = any_service.script(creator, 'print("echo:", poe.query.text)')
    console = await console_events(any_service, creator, name, {"query": "hi"})
    bot = await bot_events(any_service, name, creator.token, "hi")
    assert console == bot
    assert [event for event, _ in console] == ["meta", "text", "done"]
    assert text_of(console) == "echo: hi"


async def test_runs_are_recorded_with_their_transcript(any_service: Service) -> None:
    creator = any_service.creator()
    name = any_service.script(creator, 'print("recorded")')
    request = query_request("first")
    await fp.get_final_response(
        request, name, api_key=creator.token, base_url=any_service.bots_base, num_tries=1
    )
    events = await console_events(any_service, creator, name, {"query": "second"})
    runs = any_service.runs(creator, name)
    assert [run["trigger"] for run in runs] == ["console", "poe"]  # newest first
    console_run, poe_run = runs
    assert poe_run["status"] == "ok" and poe_run["version"] == 1
    assert poe_run["message_id"] == request.message_id and poe_run["chars_out"] == len("recorded")
    assert poe_run["duration_ms"] >= 0 and poe_run["error"] is None
    detail = any_service.run(creator, name, console_run["id"])
    assert [(e["event"], e["data"]) for e in detail["transcript"]] == events


async def test_many_short_queries_at_once(any_service: Service) -> None:
    creator = any_service.creator()  # the default quota: 8 runs at once per creator
    name = any_service.script(creator, 'print("ok")')
    answers = await asyncio.gather(*(ask(any_service, name, creator.token, "x") for _ in range(8)))
    assert answers == ["ok"] * 8


async def test_a_new_version_answers_at_once_after_the_old_one_was_cached(
    any_service: Service,
) -> None:
    # Compiled code is kept per source (sandbox/compiled.py): a new version, or an old one
    # restored, must answer as its own source says, however often the last one ran.
    creator = any_service.creator()
    name = any_service.script(creator, 'print("version one")\n')
    for _ in range(3):
        assert await ask(any_service, name, creator.token, "x") == "version one"
    changed = any_service.api(
        "PATCH", f"/scripts/{name}", creator, json={"source": 'print("version two")\n'}
    )
    assert changed.status_code == 200, changed.text
    for _ in range(3):
        assert await ask(any_service, name, creator.token, "x") == "version two"
    restored = any_service.api("POST", f"/scripts/{name}/versions/1/restore", creator)
    assert restored.status_code in (200, 201), restored.text
    assert await ask(any_service, name, creator.token, "x") == "version one"
