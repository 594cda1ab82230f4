"""A script may ask for a shorter time limit than the operator's (``# poe: timeout_s=N``),
never a longer one; through a real server and the real fastapi_poe client."""

from __future__ import annotations

import time

from tests.conftest import CreatorInfo
from tests.contract.conftest import RUN_TIMEOUT_S, Service, bot_events, error_of
from tests.upstream import ACCESS_KEY

SLEEPER = "# poe: timeout_s={seconds}\nimport time\nprint('waiting')\ntime.sleep(60)\n"


async def test_a_script_asking_for_a_shorter_time_limit_gets_it(
    service: Service, creator: CreatorInfo
) -> None:
    name = service.script(creator, SLEEPER.format(seconds=1), access_key=ACCESS_KEY)
    began = time.monotonic()
    events = await bot_events(service, name, ACCESS_KEY, "x")
    assert "time limit of 1 seconds" in error_of(events)["text"], events
    assert time.monotonic() - began < RUN_TIMEOUT_S  # generous: the operator's limit is 6 s
    assert service.runs(creator, name)[0]["status"] == "timeout"


async def test_a_script_asking_for_more_time_gets_the_operators_limit(
    service: Service, creator: CreatorInfo
) -> None:
    name = service.script(
        creator, SLEEPER.format(seconds=10 * RUN_TIMEOUT_S), access_key=ACCESS_KEY
    )
    events = await bot_events(service, name, ACCESS_KEY, "x")
    assert f"time limit of {RUN_TIMEOUT_S} seconds" in error_of(events)["text"], events
