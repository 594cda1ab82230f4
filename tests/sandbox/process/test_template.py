"""The template process: started without secrets, restarted if it dies, gone after close()."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from sandbox import SandboxPool, SandboxUnavailable
from sandbox.isolation.status import build_status
from sandbox.protocol import RunStart, Started
from tests.sandbox.process.harness import (
    QUICK,
    TestServices,
    children_of,
    process_exists,
    run,
    template_pid,
    wait_until,
)


def environment_of(pid: int) -> bytes:
    with open(f"/proc/{pid}/environ", "rb") as file:
        return file.read()


def open_fds_of(pid: int) -> set[int]:
    return {int(fd) for fd in os.listdir(f"/proc/{pid}/fd")}


async def test_template_has_no_environment_and_only_its_pipes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SCRIPTBOTS_SECRET_KEY", "the-host-secret")
    pool = SandboxPool(slots=2, spares=0)
    await pool.start()
    try:
        pid = template_pid(pool)
        assert b"the-host-secret" not in environment_of(pid)
        assert environment_of(pid) == b""
        # 0-2 and the control socket, plus what it opened itself (/dev/null, epoll, ns fd).
        assert len(open_fds_of(pid)) <= 8
    finally:
        await pool.close()


async def test_a_killed_template_ends_its_runs_and_is_replaced() -> None:
    pool = SandboxPool(slots=4, spares=1)
    await pool.start()
    try:
        first = template_pid(pool)
        start = RunStart(source="import time\ntime.sleep(60)\n", bot_name="b", limits=QUICK)
        events = pool.run(start, TestServices())
        assert isinstance(await asyncio.wait_for(events.__anext__(), 30), Started)
        orphans = set(children_of(first))
        os.kill(first, signal.SIGKILL)
        end = await asyncio.wait_for(events.__anext__(), 30)
        assert getattr(end, "status", None) == "killed"
        await events.aclose()
        # The children die with their template (parent-death signal).
        await wait_until(lambda: not any(process_exists(pid) for pid in orphans))
        outcome = await run(pool, "print('again')")  # waits for the new template
        assert outcome.end is not None and outcome.end.status == "ok", outcome.describe()
        assert template_pid(pool) != first
        assert pool.status().warm
    finally:
        await pool.close()


async def test_closed_pool_refuses_runs() -> None:
    pool = SandboxPool(slots=2, spares=0)
    await pool.start()
    await pool.close()
    assert not pool.status().warm
    with pytest.raises(SandboxUnavailable):
        await run(pool, "print(1)")


def test_unrestricted_mode_is_refused_outside_the_test_suite(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PYTEST_CURRENT_TEST")
    with pytest.raises(RuntimeError):
        SandboxPool(unrestricted_for_tests=True)


def test_status_table_shows_what_is_missing_and_why() -> None:
    status = build_status(
        True,
        {"seccomp": (True, "filter"), "landlock": (False, "the kernel has no Landlock")},
    )
    assert not status.complete
    assert [p.name for p in status.missing] == ["landlock"]
    assert "MISSING  landlock" in status.table()
    assert "the kernel has no Landlock" in status.table()
