"""Runs through real template and child processes: events, bot calls, attachments, many at once."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator

import fastapi_poe as fp
import pytest

from sandbox import SandboxPool
from sandbox.protocol import BotCallRequest, Limits, MessageAdded, RunEnd, RunStart, Started
from tests.sandbox.process.conftest import SPARES
from tests.sandbox.process.harness import (
    QUICK,
    TestServices,
    children_of,
    leased_pids,
    process_exists,
    run,
    template_pid,
    wait_no_zombies,
    wait_until,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_hello_world_streams_started_then_text_then_ok(pool: SandboxPool) -> None:
    outcome = await run(pool, 'print("Hello from a script bot")')
    assert isinstance(outcome.events[0], Started)
    assert outcome.end is not None and outcome.end.status == "ok", outcome.describe()
    assert "Hello from a script bot" in outcome.text


async def test_query_reaches_the_script(pool: SandboxPool) -> None:
    outcome = await run(pool, "print(poe.query.text.upper())", query="shout this")
    assert "SHOUT THIS" in outcome.text, outcome.describe()


async def test_script_error_shows_type_message_and_script_line(pool: SandboxPool) -> None:
    outcome = await run(pool, "x = 1\ny = x / 0\n")
    assert outcome.end is not None and outcome.end.status == "error"
    assert "ZeroDivisionError" in (outcome.end.error or "")
    assert "line 2" in (outcome.end.error or "")
    assert "sandbox/" not in (outcome.end.error or ""), "a service frame leaked"


async def test_bot_error_message_is_the_error_text(pool: SandboxPool) -> None:
    outcome = await run(pool, 'raise poe.BotError("nothing to see")')
    assert outcome.end is not None
    assert (outcome.end.status, outcome.end.error) == ("error", "nothing to see")


async def test_rejected_source_ends_with_an_error_naming_the_problem(pool: SandboxPool) -> None:
    outcome = await run(pool, "import subprocess\n")
    assert outcome.end is not None and outcome.end.status == "error"
    assert "import of 'subprocess' is not allowed" in (outcome.end.error or "")


async def test_system_exit_is_an_ordinary_script_error(pool: SandboxPool) -> None:
    outcome = await run(pool, 'print("before")\nraise SystemExit(0)\n')
    assert outcome.end is not None and outcome.end.status == "error", outcome.describe()
    assert "SystemExit" in (outcome.end.error or "")
    assert "before" in outcome.text
    assert (await run(pool, 'print("after")')).end.status == "ok"  # type: ignore[union-attr]


async def test_bot_call_streams_parts_from_run_services(pool: SandboxPool) -> None:
    services = TestServices()
    source = 'poe.call("Echo", "ping", output=poe.default_chat)\n'
    outcome = await run(pool, source, services=services)
    assert outcome.end is not None and outcome.end.status == "ok", outcome.describe()
    assert "echo: ping" in outcome.text
    assert [r.bot_name for r in services.requests] == ["Echo"]


async def test_bot_calls_from_21_parallel_threads_all_answered(pool: SandboxPool) -> None:
    async def slow_echo(request: BotCallRequest) -> AsyncIterator[fp.PartialResponse]:
        await asyncio.sleep(0.2)  # all 21 must be in flight at once to finish in time
        yield fp.PartialResponse(text=request.messages[-1]["content"])

    services = TestServices({"Slow": slow_echo}, max_bot_calls=25)
    source = (
        "def ask(i):\n"
        "    return lambda: poe.call('Slow', f'n{i}').text\n"
        "answers = poe.parallel(*[ask(i) for i in range(21)])\n"
        "print(','.join(answers))\n"
    )
    began = asyncio.get_running_loop().time()
    outcome = await run(pool, source, services=services)
    elapsed = asyncio.get_running_loop().time() - began
    assert outcome.end is not None and outcome.end.status == "ok", outcome.describe()
    assert outcome.text.strip() == ",".join(f"n{i}" for i in range(21))
    assert len(services.requests) == 21
    assert elapsed < 0.2 * 21 / 2, "the calls did not run concurrently"


async def test_bot_call_refused_reaches_the_script_as_bot_error(pool: SandboxPool) -> None:
    source = (
        "try:\n    poe.call('Nobody', 'hi')\nexcept poe.BotError as e:\n    print('caught', e)\n"
    )
    outcome = await run(pool, source)
    assert outcome.end is not None and outcome.end.status == "ok", outcome.describe()
    assert "caught" in outcome.text and "no such bot" in outcome.text


async def test_attachment_upload_and_fetch_go_through_run_services(pool: SandboxPool) -> None:
    services = TestServices(files={"https://example.com/a.txt": b"remote bytes"})
    source = (
        "with poe.start_message() as m:\n"
        "    a = m.attach_file(name='r.csv', contents=b'a,b', content_type='text/csv')\n"
        "got = poe.Attachment(name='a.txt', url='https://example.com/a.txt').get_contents()\n"
        "print(got.decode())\n"
    )
    outcome = await run(pool, source, services=services)
    assert outcome.end is not None and outcome.end.status == "ok", outcome.describe()
    assert services.uploads == [("r.csv", b"a,b")]
    assert "remote bytes" in outcome.text


async def test_each_run_gets_a_process_no_other_run_used(pool: SandboxPool) -> None:
    source = "import random\nprint(random.random())\n"
    outcomes = [await run(pool, source) for _ in range(3)]
    values = {o.text for o in outcomes}
    assert len(values) == 3, "children share the template's random state"


async def test_many_concurrent_runs_all_complete(pool: SandboxPool) -> None:
    source = "import time\ntime.sleep(0.5)\nprint(poe.query.text)\n"
    count = 200
    outcomes = await asyncio.gather(*(run(pool, source, query=f"q{i}") for i in range(count)))
    assert [o.end.status for o in outcomes if o.end] == ["ok"] * count
    assert sorted(o.text.strip() for o in outcomes) == sorted(f"q{i}" for i in range(count))
    await wait_no_zombies(pool, spares=SPARES)


async def test_closing_the_iterator_kills_the_child(pool: SandboxPool) -> None:
    start = RunStart(source="import time\ntime.sleep(60)\n", bot_name="b", limits=QUICK)
    events = pool.run(start, TestServices())
    assert isinstance(await asyncio.wait_for(events.__anext__(), 30), Started)
    running = leased_pids(pool)
    assert len(running) == 1 and running <= set(children_of(template_pid(pool)))
    await events.aclose()  # the HTTP client went away
    await wait_until(lambda: not any(process_exists(pid) for pid in running))
    await wait_no_zombies(pool)


async def test_cancelled_consumer_task_kills_the_child(pool: SandboxPool) -> None:
    started = asyncio.Event()

    async def consume() -> None:
        start = RunStart(source="while True:\n    pass\n", bot_name="b", limits=QUICK)
        async for event in pool.run(start, TestServices()):
            if isinstance(event, Started):
                started.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(started.wait(), 30)
    running = leased_pids(pool)
    assert len(running) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await wait_until(lambda: not any(process_exists(pid) for pid in running))


async def test_spare_children_make_start_fast(pool: SandboxPool) -> None:
    await wait_until(lambda: len(children_of(template_pid(pool))) >= SPARES)
    outcome = await run(pool, "print(1)")
    assert outcome.started_s is not None and outcome.started_s < 0.5, outcome.started_s


async def test_different_limits_still_run(pool: SandboxPool) -> None:
    limits = Limits(timeout_s=5, cpu_s=3, memory_mb=96, max_threads=8)
    outcome = await run(pool, "print('custom')", limits=limits)
    assert outcome.end is not None and outcome.end.status == "ok", outcome.describe()


@pytest.mark.skipif(os.geteuid() != 0, reason="every protection needs root; CI runs as root")
async def test_every_protection_is_active_as_root(pool: SandboxPool) -> None:
    status = pool.status()
    assert status.warm
    assert status.missing == (), status.table()
    names = {p.name for p in status.active}
    assert {"seccomp", "landlock", "unprivileged_uid", "cgroup_memory", "pid_namespace"} <= names


async def test_status_lists_each_protection_once(pool: SandboxPool) -> None:
    status = pool.status()
    names = [p.name for p in status.active + status.missing]
    assert len(names) == len(set(names))
    assert "clean_process" in names
    assert "seccomp" in status.table()


async def test_output_written_just_before_exit_is_never_lost(pool: SandboxPool) -> None:
    # The template reports a child's exit while what it wrote last is still unread (the
    # consumer is slow, the channel's buffers are full): the run must read it all anyway.
    limits = Limits(timeout_s=30, cpu_s=5, memory_mb=64, max_output_chars=1_000_000)
    # Enough small messages to fill the host's event buffer, then enough text to fill the
    # channel's stream buffer (asyncio pauses reading) and leave the rest in the socket.
    source = "for i in range(200):\n    print('x')\nfor i in range(5):\n    print('y' * 50000)\n"
    start = RunStart(source=source, bot_name="b", limits=limits)
    events = pool.run(start, TestServices())
    assert isinstance(await asyncio.wait_for(events.__anext__(), 30), Started)
    # This run's child: the newest leased one (an earlier run's may not have exited yet).
    child = max((c for c in pool._children.values() if c.leased), key=lambda c: c.run_id)
    await asyncio.wait_for(asyncio.shield(child.exited), 30)  # consume nothing meanwhile
    received = [event async for event in events]
    assert received[-1] == RunEnd("ok"), received[-1]
    assert sum(isinstance(e, MessageAdded) for e in received) == 205


async def test_the_end_is_read_though_the_host_still_sends_what_the_script_left(
    pool: SandboxPool,
) -> None:
    # The script stops reading a streamed answer and ends; the host, busy meanwhile (its
    # loop blocked here), then sends the answer's next part to a child that is gone or
    # about to go. Before: the child exited at once, the write failed or the socket was
    # reset, and the host dropped the RunEnd still unread in its buffers ("killed").
    async def flood(request: BotCallRequest) -> AsyncIterator[fp.PartialResponse]:
        yield fp.PartialResponse(text="first")
        time.sleep(0.5)  # the whole host is busy: the child ends meanwhile
        for _ in range(50):
            yield fp.PartialResponse(text="more")

    source = "for part in poe.stream('Flood', 'x'):\n    print(part.text)\n    break\n"
    outcome = await run(pool, source, services=TestServices({"Flood": flood}))
    assert outcome.end == RunEnd("ok"), outcome.describe()
    assert outcome.text == "first"


async def test_a_failing_service_is_a_bot_error_not_a_hang(pool: SandboxPool) -> None:
    class Broken(TestServices):
        def call_bot(self, request: BotCallRequest) -> AsyncIterator[fp.PartialResponse]:
            raise RuntimeError("the service has a bug")

    source = "try:\n    poe.call('Echo', 'x')\nexcept poe.BotError as e:\n    print('caught', e)\n"
    outcome = await run(pool, source, services=Broken())
    assert outcome.end is not None and outcome.end.status == "ok", outcome.describe()
    assert "caught" in outcome.text and "the service has a bug" not in outcome.text
