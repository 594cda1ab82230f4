"""Bot names between creators (SPEC §8, issue 11), through the real fastapi_poe client: a
name reaches a script hosted here only when it is the calling script's creator's own, so a
script named like a popular bot receives nobody else's calls, prompts or access keys, other
creators' calls never take its creator's places, and nested runs count against the caller.

Stopped by: the service (``runs/botscript.py`` ``own_bot``, used by ``NestedRuns``)."""

from __future__ import annotations

import json

import fastapi_poe as fp

from tests.conftest import CreatorInfo
from tests.contract.conftest import Service, ask, bot_events, query_request
from tests.contract.test_concurrency import QUOTA
from tests.upstream import ACCESS_KEY, InspectBot

SQUATTER = 'print("squatted:", poe.query.text)\n'
CALL_INSPECT = f'print(poe.call("{InspectBot.name}", "secret prompt").text)\n'
SLEEPER = "import time\ntime.sleep(1.5)\nprint('slept')\n"
FAN_OUT = """
calls = [lambda: poe.call("{callee}", "x").text for _ in range({n})]
for result in poe.parallel(*calls, return_exceptions=True):
    print(result.message if isinstance(result, poe.BotError) else result)
"""
FAILING = "def inner():\n    return 1 / 0\n\ninner()\n"
CATCH = 'try:\n    poe.call("{callee}", "x")\nexcept poe.BotError as e:\n    print(e.message)\n'


async def test_a_script_named_like_a_poe_bot_gets_no_other_creators_calls__service(
    service: Service, creator: CreatorInfo
) -> None:
    squatter = service.creator()
    service.script(squatter, SQUATTER, name=InspectBot.name)  # the name of a real upstream bot
    caller = service.script(creator, CALL_INSPECT, access_key=ACCESS_KEY)
    seen = json.loads(
        await fp.get_final_response(
            query_request("go"), caller, api_key=ACCESS_KEY, base_url=service.bots_base, num_tries=1
        )
    )
    # The call went to Poe (the upstream Inspect bot), with the caller's key and prompt...
    assert seen["authorization"] == f"Bearer {ACCESS_KEY}"
    assert seen["messages"][-1] == {"role": "user", "content": "secret prompt"}
    # ...and the squatter's script never ran: it saw no prompt and no key.
    assert service.runs(squatter, InspectBot.name) == []


async def test_calls_to_another_creators_script_take_none_of_their_places__service(
    service: Service, creator: CreatorInfo
) -> None:
    other = service.creator()
    target = service.script(other, SLEEPER)
    caller = service.script(creator, FAN_OUT.format(callee=target, n=QUOTA), access_key=ACCESS_KEY)
    answer = await ask(service, caller, ACCESS_KEY, "x")
    assert answer.count("the bot answered HTTP 404 (no such bot)") == QUOTA  # went to Poe
    assert service.runs(other, target) == []
    assert await ask(service, target, other.token, "x") == "slept"


async def test_nested_runs_count_against_the_callers_creator__service(
    service: Service, creator: CreatorInfo
) -> None:
    callee = service.script(creator, SLEEPER)
    caller = service.script(creator, FAN_OUT.format(callee=callee, n=QUOTA))
    answer = await ask(service, caller, creator.token, "x")
    # The caller's own run holds one of its creator's places: one nested run is refused.
    assert answer.count("slept") == QUOTA - 1
    assert answer.count(f"already has {QUOTA} runs in progress") == 1
    statuses = sorted(run["status"] for run in service.runs(creator, callee))
    assert statuses == ["ok"] * (QUOTA - 1) + ["rejected"]


async def test_a_called_scripts_traceback_is_the_callers_own_code__service(
    service: Service, creator: CreatorInfo
) -> None:
    callee = service.script(creator, FAILING)
    caller = service.script(creator, CATCH.format(callee=callee))
    answer = await ask(service, caller, creator.token, "x")
    assert "ZeroDivisionError: division by zero" in answer
    assert 'File "<script>", line 2, in inner' in answer
    other = service.creator()
    foreign = service.script(other, FAILING)
    calling_foreign = service.script(creator, CATCH.format(callee=foreign))
    events = await bot_events(service, calling_foreign, creator.token, "x")
    assert "ZeroDivisionError" not in json.dumps(events)  # another creator's code never ran
    assert service.runs(other, foreign) == []
