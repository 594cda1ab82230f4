"""A child that lies: the host's own checks hold when the child's code is the attacker's.

The pool here runs plain Python (``unrestricted_for_tests``), so a script can write forged
frames straight onto its channel (fd 3), die without a word, or crash the interpreter."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from sandbox import SandboxPool
from tests.sandbox.process.harness import QUICK, Outcome, run, wait_no_zombies

pytestmark = pytest.mark.asyncio(loop_scope="module")

FORGE = """
import json, os, struct
def frame(obj):  # protocol.encode's layout: the frame's length, the JSON part's, the JSON
    body = json.dumps(obj).encode()
    return struct.pack('>II', len(body) + 4, len(body)) + body
"""


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def open_pool() -> AsyncIterator[SandboxPool]:
    pool = SandboxPool(slots=8, spares=1, unrestricted_for_tests=True)
    await pool.start()
    yield pool
    await pool.close()


async def ends(pool: SandboxPool, source: str) -> Outcome:
    outcome = await run(pool, source)
    assert (await run(pool, "print('next run fine')")).end.status == "ok"  # type: ignore[union-attr]
    await wait_no_zombies(pool, spares=1)
    return outcome


async def test_output_past_the_cap_is_cut_by_the_host(open_pool: SandboxPool) -> None:
    size = QUICK.max_output_chars + 1
    message = f"{{'t': 'MessageAdded', 'msg_id': 0, 'role': 'bot', 'text': 'x' * {size}}}"
    source = FORGE + f"os.write(3, frame({message}))\nimport time\ntime.sleep(30)\n"
    outcome = await ends(open_pool, source)
    assert outcome.end is not None
    assert (outcome.end.status, outcome.end.limit) == ("killed", "output"), outcome.describe()
    assert outcome.text == "", "the overshooting text was passed on"


async def test_garbage_on_the_channel_stops_the_run(open_pool: SandboxPool) -> None:
    outcome = await ends(open_pool, "import os\nos.write(3, b'\\x00\\x00\\x00\\x05junk!')\n")
    assert outcome.end is not None and outcome.end.status == "killed", outcome.describe()


async def test_a_huge_frame_length_stops_the_run(open_pool: SandboxPool) -> None:
    outcome = await ends(open_pool, "import os\nos.write(3, b'\\xff\\xff\\xff\\xff')\n")
    assert outcome.end is not None and outcome.end.status == "killed", outcome.describe()


async def test_events_for_unknown_messages_stop_the_run(open_pool: SandboxPool) -> None:
    source = FORGE + "os.write(3, frame({'t': 'TextAppended', 'msg_id': 7, 'text': 'x'}))\n"
    outcome = await ends(open_pool, source)
    assert outcome.end is not None and outcome.end.status == "killed", outcome.describe()


async def test_a_forged_timeout_is_not_believed(open_pool: SandboxPool) -> None:
    source = FORGE + "os.write(3, frame({'t': 'RunEnd', 'status': 'timeout', 'limit': 'time'}))\n"
    outcome = await ends(open_pool, source)
    assert outcome.end is not None and outcome.end.status == "error", outcome.describe()


async def test_a_flood_of_requests_stops_the_run(open_pool: SandboxPool) -> None:
    source = FORGE + (
        "for i in range(1000):\n"
        "    os.write(3, frame({'t': 'FetchRequest', 'request_id': 10**6 + i, 'url': 'x'}))\n"
        "import time\ntime.sleep(30)\n"
    )
    outcome = await ends(open_pool, source)
    assert outcome.end is not None and outcome.end.status == "killed", outcome.describe()


async def test_exiting_without_a_run_end(open_pool: SandboxPool) -> None:
    outcome = await ends(open_pool, "import os\nprint('bye')\nos._exit(0)\n")
    assert outcome.end is not None and outcome.end.status == "killed", outcome.describe()
    assert outcome.end.limit is None


async def test_crashing_the_interpreter(open_pool: SandboxPool) -> None:
    outcome = await ends(open_pool, "import ctypes\nctypes.string_at(0)\n")
    assert outcome.end is not None and outcome.end.status == "killed", outcome.describe()


async def test_closing_the_channel(open_pool: SandboxPool) -> None:
    # The reader thread's blocked recv keeps the socket open: the deadline ends this one.
    outcome = await ends(open_pool, "import os\nos.close(3)\nimport time\ntime.sleep(30)\n")
    assert outcome.end is not None and outcome.end.status in ("killed", "timeout")


async def test_forged_settings_in_a_query_run_stop_the_run(open_pool: SandboxPool) -> None:
    """Only a settings run (saving a script) may report settings; a query's child cannot."""
    forged = "{'t': 'SettingsUpdated', 'settings': {'introduction_message': 'forged'}}"
    source = FORGE + f"os.write(3, frame({forged}))\nimport time\ntime.sleep(30)\n"
    outcome = await ends(open_pool, source)
    assert outcome.end is not None and outcome.end.status == "killed", outcome.describe()
    assert not any(type(e).__name__ == "SettingsUpdated" for e in outcome.events)


async def test_a_failure_of_a_message_never_added_stops_the_run(open_pool: SandboxPool) -> None:
    forged = "{'t': 'MessageFailed', 'msg_id': 3, 'error': 'forged'}"
    source = FORGE + f"os.write(3, frame({forged}))\nimport time\ntime.sleep(30)\n"
    outcome = await ends(open_pool, source)
    assert outcome.end is not None and outcome.end.status == "killed", outcome.describe()
