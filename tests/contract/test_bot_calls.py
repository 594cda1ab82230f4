"""Bot calls from scripts: to real fastapi_poe bots upstream, and to scripts hosted here
(run directly, depth at most 3, one budget per query); attachments fetched for a script."""

from __future__ import annotations

import json
import time

import fastapi_poe as fp

from tests.conftest import CreatorInfo
from tests.contract.conftest import (
    RUN_TIMEOUT_S,
    Service,
    ask,
    bot_events,
    error_of,
    query_request,
    text_of,
)
from tests.upstream import ACCESS_KEY, STREAM_PARTS, ToolCallerBot

STREAM = """
with poe.start_message() as msg:
    for part in poe.stream("Streamer", "go"):
        msg.write(part.text)
"""

TOOLS = '''
def lookup(query: poe.Doc[str, "The word to look up"]) -> str:
    """Look a word up."""
    return "definition of " + query

poe.call("ToolCaller", poe.query, tools=[lookup], output=poe.default_chat)
'''

CATCH = """
for bot in ["Failing", "Refusing", "Halfway"]:
    try:
        poe.call(bot, "hello")
    except poe.BotError as error:
        print("caught:", error.message)
"""

RECURSIVE = """
depth = int(poe.query.text)
try:
    reply = poe.call(poe.bot_name, str(depth + 1)).text
except poe.BotError as error:
    reply = "refused: " + error.message
print(str(depth) + "[" + reply + "]")
"""

READ_ATTACHMENT = """
print(len(poe.query.attachments), "attachment(s)")
for attachment in poe.query.attachments:
    print(attachment.name, attachment.get_contents().decode())
"""


async def test_a_call_reaches_the_upstream_bot_with_the_querys_ids(
    service: Service, creator: CreatorInfo
) -> None:
    name = service.script(creator, 'print(poe.call("Inspect", "look").text)', access_key=ACCESS_KEY)
    request = query_request("look at me")
    seen = json.loads(
        await fp.get_final_response(
            request, name, api_key=ACCESS_KEY, base_url=service.bots_base, num_tries=1
        )
    )
    assert seen["authorization"] == f"Bearer {ACCESS_KEY}" and seen["body_access_key"] != ACCESS_KEY
    assert (seen["user_id"], seen["conversation_id"], seen["message_id"]) == (
        request.user_id,
        request.conversation_id,
        request.message_id,
    )
    assert seen["messages"][-1] == {"role": "user", "content": "look"}


async def test_echo_forwards_the_query(service: Service, creator: CreatorInfo) -> None:
    name = service.script(
        creator, 'poe.call("Echo", poe.query, output=poe.default_chat)', access_key=ACCESS_KEY
    )
    assert await ask(service, name, ACCESS_KEY, "Hello world") == "Hello world"
    (run,) = service.runs(creator, name)
    assert run["bot_calls"] == 1


async def test_a_console_run_calls_with_the_scripts_stored_key(
    service: Service, creator: CreatorInfo
) -> None:
    keyed = service.script(creator, 'print(poe.call("Echo", "hi").text)', access_key=ACCESS_KEY)
    keyless = service.script(creator, 'print(poe.call("Echo", "hi").text)')
    response = service.api("POST", f"/scripts/{keyed}/run", creator, json={"query": "x"})
    assert 'data: {"text": "hi"}' in response.text
    events = await bot_events(service, keyless, creator.token, "x")
    assert "needs a Poe access key" in error_of(events)["text"]


async def test_a_streaming_bot_streams_through_the_script(
    service: Service, creator: CreatorInfo
) -> None:
    name = service.script(creator, STREAM, access_key=ACCESS_KEY)
    arrivals = []
    started = time.monotonic()
    async for part in fp.stream_request(
        query_request("x"), name, ACCESS_KEY, base_url=service.bots_base, num_tries=1
    ):
        if not isinstance(part, fp.MetaResponse):
            arrivals.append((time.monotonic() - started, part.text))
    assert "".join(text for _, text in arrivals) == "".join(STREAM_PARTS)
    assert len(arrivals) >= 3 and arrivals[-1][0] - arrivals[0][0] >= 0.1


async def test_tool_calling_with_a_doc_tool(service: Service, creator: CreatorInfo) -> None:
    name = service.script(creator, TOOLS, access_key=ACCESS_KEY)
    answer = await ask(service, name, ACCESS_KEY, "serendipity")
    assert answer == 'Results: lookup="definition of serendipity"'  # results travel as JSON
    first, second = service.upstream.record.queries[ToolCallerBot.name][-2:]
    assert first.tools is not None and first.tools[0].function.name == "lookup"
    assert first.tools[0].function.description == "Look a word up."
    assert second.tool_results is not None
    assert service.runs(creator, name)[0]["bot_calls"] == 2


async def test_upstream_failures_are_catchable_bot_errors(
    service: Service, creator: CreatorInfo
) -> None:
    name = service.script(creator, CATCH, access_key=ACCESS_KEY)
    lines = (await ask(service, name, ACCESS_KEY, "x")).split("\n\n")
    assert lines == [
        "caught: Bot 'Failing' failed: The bot encountered an unexpected issue.",
        "caught: Bot 'Refusing' failed: I refuse: quota exceeded",
        "caught: Bot 'Halfway' failed: lost my train of thought",
    ]
    uncaught = service.script(creator, 'poe.call("Refusing", "x")', access_key=ACCESS_KEY)
    error = error_of(await bot_events(service, uncaught, ACCESS_KEY, "x"))
    assert error["text"] == "Bot 'Refusing' failed: I refuse: quota exceeded"


async def test_a_slow_bot_within_the_time_limit_and_past_it(
    service: Service, creator: CreatorInfo
) -> None:
    name = service.script(creator, 'print(poe.call("Slow", poe.query).text)', access_key=ACCESS_KEY)
    assert await ask(service, name, ACCESS_KEY, "0.3") == "finally awake"
    events = await bot_events(service, name, ACCESS_KEY, str(RUN_TIMEOUT_S * 5))
    assert f"time limit of {RUN_TIMEOUT_S} seconds" in error_of(events)["text"]
    assert service.runs(creator, name)[0]["status"] == "timeout"


async def test_a_script_calls_another_hosted_script_directly(
    service: Service, creator: CreatorInfo
) -> None:
    callee = service.script(creator, 'print("B got", poe.query.text)')
    caller = service.script(
        creator, f'print("A asks")\npoe.call("{callee}", poe.query, output=poe.default_chat)'
    )
    asked = len(service.upstream.record.queries.get("Echo", []))
    events = await bot_events(service, caller, creator.token, "hi")
    assert text_of(events) == "A asks\n\nB got hi"
    assert len(service.upstream.record.queries.get("Echo", [])) == asked  # no HTTP upstream
    (parent,) = service.runs(creator, caller)
    (child,) = service.runs(creator, callee)
    assert parent["bot_calls"] == 1 and child["parent_run_id"] == parent["id"]
    assert child["status"] == "ok" and child["trigger"] == "poe"
    assert (
        text_of(
            [
                (e["event"], e["data"])
                for e in service.run(creator, callee, child["id"])["transcript"]
            ]
        )
        == "B got hi"
    )


async def test_a_hosted_scripts_failure_reaches_its_caller(
    service: Service, creator: CreatorInfo
) -> None:
    callee = service.script(creator, 'raise poe.BotError("not today")')
    caller = service.script(
        creator,
        f'try:\n    poe.call("{callee}", "x")\nexcept poe.BotError as e:\n    print(e.message)',
    )
    assert await ask(service, caller, creator.token, "x") == f"Bot '{callee}' failed: not today"


async def test_hosted_calls_stop_past_depth_three(service: Service, creator: CreatorInfo) -> None:
    name = service.script(creator, RECURSIVE)
    answer = await ask(service, name, creator.token, "0")
    assert answer.startswith("0[1[2[3[refused: ")
    assert "at most 3 levels deep" in answer and answer.endswith("]]]]")
    runs = service.runs(creator, name)
    assert len(runs) == 4 and sum(run["parent_run_id"] is None for run in runs) == 1


async def test_nested_scripts_share_the_querys_budget(
    service: Service, creator: CreatorInfo
) -> None:
    callee = service.script(creator, "for i in range(9):\n    poe.call('Echo', str(i))\n")
    caller = service.script(
        creator,
        f'poe.call("{callee}", "x")\npoe.call("Echo", "one too many")',
        access_key=ACCESS_KEY,
    )
    error = error_of(await bot_events(service, caller, ACCESS_KEY, "x"))
    assert "limit of 10 bot calls" in error["text"]
    assert [r["bot_calls"] for r in service.runs(creator, callee)] == [9]


async def test_a_script_reads_an_attachment_url(service: Service, creator: CreatorInfo) -> None:
    allowed = service.script(creator, READ_ATTACHMENT, settings={"allow_attachments": True})
    default = service.script(creator, READ_ATTACHMENT)
    url = service.upstream.root + "/files/hello.txt"
    message = fp.ProtocolMessage(
        role="user",
        content="read this",
        attachments=[fp.Attachment(url=url, content_type="text/plain", name="hello.txt")],
    )
    assert await ask(service, allowed, creator.token, message) == (
        "1 attachment(s)\n\nhello.txt hello world"
    )
    # Poe sends attachments only to bots that allow them; so does the service.
    assert await ask(service, default, creator.token, message) == "0 attachment(s)"
