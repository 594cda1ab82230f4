"""Bot calls of a run against real fastapi_poe bots on loopback (tests/upstream.py), and the
routing of hosted scripts through a second, in-memory implementation of ``HostedBots``."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import fastapi_poe as fp
import pytest

from sandbox.errors import BotCallLimit, BotCallRefused
from sandbox.protocol import (
    AttachmentAdded,
    AttachmentInfo,
    BotCallRequest,
    MessageAdded,
    MessageFailed,
    RunEnd,
    Started,
    TextAppended,
    TextReplaced,
)
from service.runs.botcalls import (
    BotRouter,
    CallBudget,
    HostedBot,
    UpstreamBots,
    parts_from_run,
)
from tests.upstream import (
    ACCESS_KEY,
    STREAM_DELAY_S,
    STREAM_PARTS,
    HalfwayBot,
    RefusingBot,
    Upstream,
)

LOOKUP_TOOL = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Look a word up.",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string"}},
            "required": ["query"],
        },
    },
}


def user(text: str) -> dict[str, Any]:
    return fp.ProtocolMessage(role="user", content=text).model_dump()


def upstream_bots(
    upstream: Upstream, *, budget: CallBudget | None = None, **options: Any
) -> UpstreamBots:
    options.setdefault("access_key", upstream.access_key)
    return UpstreamBots(
        upstream.base_url,
        user_id="user-1",
        conversation_id="conv-1",
        message_id="msg-1",
        budget=budget or CallBudget(10),
        **options,
    )


async def collect(parts: AsyncIterator[fp.PartialResponse]) -> list[fp.PartialResponse]:
    return [part async for part in parts]


def joined(parts: list[fp.PartialResponse]) -> str:
    return "".join(p.text for p in parts if not isinstance(p, fp.MetaResponse))


async def test_echo_answers_the_last_user_message(upstream: Upstream) -> None:
    bots = upstream_bots(upstream)
    parts = await collect(bots.call_bot(BotCallRequest("Echo", [user("ping")])))
    assert joined(parts) == "ping"
    assert bots.budget.used == 1


async def test_the_request_carries_the_query_ids_and_options(upstream: Upstream) -> None:
    request = BotCallRequest(
        "@Inspect",
        [fp.ProtocolMessage(role="system", content="be brief").model_dump(), user("hi")],
        temperature=0.25,
        adopt_current_bot_name=True,
    )
    seen = json.loads(joined(await collect(upstream_bots(upstream).call_bot(request))))
    assert seen["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    ]
    assert (seen["user_id"], seen["conversation_id"], seen["message_id"]) == (
        "user-1",
        "conv-1",
        "msg-1",
    )
    assert seen["temperature"] == 0.25
    assert seen["adopt_current_bot_name"] is True
    assert seen["authorization"] == f"Bearer {ACCESS_KEY}"
    assert seen["body_access_key"] == "<missing>"  # the key travels in the header only


async def test_parts_stream_as_the_bot_writes_them(upstream: Upstream) -> None:
    arrivals: list[float] = []
    texts: list[str] = []
    async for part in upstream_bots(upstream).call_bot(BotCallRequest("Streamer", [user("go")])):
        if part.text:
            texts.append(part.text)
            arrivals.append(time.monotonic())
    assert texts == STREAM_PARTS
    assert arrivals[-1] - arrivals[0] >= STREAM_DELAY_S * (len(STREAM_PARTS) - 2)


async def test_tool_call_deltas_pass_through_and_no_tool_runs_here(upstream: Upstream) -> None:
    bots = upstream_bots(upstream)
    first = BotCallRequest("ToolCaller", [user("cheese")], tools=[LOOKUP_TOOL])
    parts = await collect(bots.call_bot(first))
    deltas = [delta for part in parts for delta in part.tool_calls]
    assert deltas[0].id == "call_0" and deltas[0].function.name == "lookup"
    arguments = "".join(delta.function.arguments for delta in deltas)
    assert json.loads(arguments) == {"query": "cheese"}
    assert upstream.record.last_query("ToolCaller").tools is not None

    calls = [
        {"id": "call_0", "type": "function", "function": {"name": "lookup", "arguments": arguments}}
    ]
    results = [
        {"role": "tool", "name": "lookup", "tool_call_id": "call_0", "content": '"a dairy food"'}
    ]
    second = BotCallRequest(
        "ToolCaller", [user("cheese")], tools=[LOOKUP_TOOL], tool_calls=calls, tool_results=results
    )
    answer = joined(await collect(bots.call_bot(second)))
    assert answer == 'Results: lookup="a dairy food"'
    received = upstream.record.last_query("ToolCaller")
    assert received.tool_calls is not None and received.tool_calls[0].id == "call_0"
    assert bots.budget.used == 2


async def test_a_bot_that_raises_is_refused_with_its_message(upstream: Upstream) -> None:
    with pytest.raises(BotCallRefused) as raised:
        await collect(upstream_bots(upstream).call_bot(BotCallRequest("Failing", [user("x")])))
    assert raised.value.bot_name == "Failing"
    assert raised.value.message == "The bot encountered an unexpected issue."


async def test_a_bot_error_event_reaches_the_script_with_its_text(upstream: Upstream) -> None:
    with pytest.raises(BotCallRefused) as raised:
        await collect(upstream_bots(upstream).call_bot(BotCallRequest("Refusing", [user("x")])))
    assert raised.value.message == RefusingBot.message


async def test_an_error_after_partial_output_comes_after_the_parts(upstream: Upstream) -> None:
    seen: list[str] = []
    with pytest.raises(BotCallRefused) as raised:
        async for part in upstream_bots(upstream).call_bot(BotCallRequest("Halfway", [user("x")])):
            seen.append(part.text)
    assert "partial " in seen
    assert raised.value.message == HalfwayBot.message


async def test_an_unknown_bot_is_refused(upstream: Upstream) -> None:
    with pytest.raises(BotCallRefused) as raised:
        await collect(upstream_bots(upstream).call_bot(BotCallRequest("NoSuchBot", [user("x")])))
    assert raised.value.message == "the bot answered HTTP 404 (no such bot)"


async def test_a_wrong_access_key_is_refused(upstream: Upstream) -> None:
    bots = upstream_bots(upstream, access_key="x" * 32)
    with pytest.raises(BotCallRefused) as raised:
        await collect(bots.call_bot(BotCallRequest("Echo", [user("x")])))
    assert raised.value.message == "the bot answered HTTP 401 (it refused the access key)"


async def test_without_an_access_key_nothing_is_sent_or_spent(upstream: Upstream) -> None:
    bots = upstream_bots(upstream, access_key=None)
    with pytest.raises(BotCallRefused, match="needs a Poe access key"):
        await collect(bots.call_bot(BotCallRequest("Echo", [user("x")])))
    assert bots.budget.used == 0


async def test_a_slow_bot_times_out(upstream: Upstream) -> None:
    bots = upstream_bots(upstream, timeout_s=0.3)
    with pytest.raises(BotCallRefused) as raised:
        await collect(bots.call_bot(BotCallRequest("Slow", [user("5")])))
    assert raised.value.message == "the bot did not answer within 0.3 seconds"


async def test_an_unreachable_server_is_refused() -> None:
    bots = UpstreamBots(
        "http://127.0.0.1:9/",
        access_key=ACCESS_KEY,
        user_id="u",
        conversation_id="c",
        message_id="m",
        budget=CallBudget(1),
    )
    with pytest.raises(BotCallRefused, match="could not connect"):
        await collect(bots.call_bot(BotCallRequest("Echo", [user("x")])))


@pytest.mark.parametrize("name", ["../admin", "a/b", "x?y=1", "", "@", "http://evil"])
async def test_names_that_are_not_bot_names_are_refused(upstream: Upstream, name: str) -> None:
    bots = upstream_bots(upstream)
    with pytest.raises(BotCallRefused, match="not a valid bot name"):
        await collect(bots.call_bot(BotCallRequest(name, [user("x")])))
    assert bots.budget.used == 0


async def test_a_malformed_request_is_refused(upstream: Upstream) -> None:
    request = BotCallRequest("Echo", [{"role": "robot", "content": "x"}])
    with pytest.raises(BotCallRefused, match=r"malformed bot call \(role"):
        await collect(upstream_bots(upstream).call_bot(request))


async def test_the_budget_refuses_calls_past_the_limit(upstream: Upstream) -> None:
    bots = upstream_bots(upstream, budget=CallBudget(2))
    for _ in range(2):
        await collect(bots.call_bot(BotCallRequest("Echo", [user("x")])))
    calls_before = len(upstream.record.queries["Echo"])
    with pytest.raises(BotCallLimit) as raised:
        await collect(bots.call_bot(BotCallRequest("Echo", [user("x")])))
    assert raised.value.limit == "bot_calls"
    assert len(upstream.record.queries["Echo"]) == calls_before


def test_the_budget_holds_across_threads() -> None:
    budget = CallBudget(10)
    granted: list[bool] = []
    start = threading.Barrier(40)

    def spend() -> None:
        start.wait()
        try:
            budget.spend("Echo")
            granted.append(True)
        except BotCallLimit:
            granted.append(False)

    threads = [threading.Thread(target=spend) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert granted.count(True) == 10 and budget.used == 10


async def test_closing_a_call_early_ends_it_cleanly(upstream: Upstream) -> None:
    parts = upstream_bots(upstream).call_bot(BotCallRequest("Streamer", [user("go")]))
    async for part in parts:
        if part.text:
            break
    await parts.aclose()  # type: ignore[attr-defined]


# -- hosted scripts ---------------------------------------------------------------------


class FakeScripts:
    """``HostedBots`` from a dict: a second real implementation of the seam, in memory."""

    def __init__(
        self,
        scripts: dict[
            str, Callable[[BotCallRequest, BotRouter], AsyncIterator[fp.PartialResponse]]
        ],
    ) -> None:
        self.scripts = scripts
        self.depths: list[tuple[str, int]] = []

    async def find(self, bot_name: str) -> HostedBot | None:
        script = self.scripts.get(bot_name)
        if script is None:
            return None

        def run(request: BotCallRequest, nested: BotRouter) -> AsyncIterator[fp.PartialResponse]:
            self.depths.append((bot_name, nested.depth))
            return script(request, nested)

        return run


async def shout(request: BotCallRequest, nested: BotRouter) -> AsyncIterator[fp.PartialResponse]:
    yield fp.PartialResponse(text=request.messages[-1]["content"].upper())


async def relay(request: BotCallRequest, nested: BotRouter) -> AsyncIterator[fp.PartialResponse]:
    """Calls the bot named in the message (``"Next: rest"``) and passes its answer on."""
    target, _, rest = request.messages[-1]["content"].partition(":")
    async for part in nested.call_bot(BotCallRequest(target, [user(rest.strip())])):
        yield part


async def test_a_hosted_script_runs_here_not_upstream(upstream: Upstream) -> None:
    scripts = FakeScripts({"Shout": shout})
    router = BotRouter(upstream_bots(upstream), scripts)
    parts = await collect(router.call_bot(BotCallRequest("@Shout", [user("quiet")])))
    assert joined(parts) == "QUIET"
    assert scripts.depths == [("Shout", 1)]
    assert router.budget.used == 1


async def test_other_names_go_upstream(upstream: Upstream) -> None:
    router = BotRouter(upstream_bots(upstream), FakeScripts({"Shout": shout}))
    parts = await collect(router.call_bot(BotCallRequest("Echo", [user("hello")])))
    assert joined(parts) == "hello"


async def test_hosted_scripts_nest_three_deep_and_no_deeper(upstream: Upstream) -> None:
    scripts = FakeScripts({"Relay": relay, "Shout": shout})
    router = BotRouter(upstream_bots(upstream), scripts)
    # depth 1 Relay → depth 2 Relay → depth 3 Shout
    three = BotCallRequest("Relay", [user("Relay: Shout: deep")])
    assert joined(await collect(router.call_bot(three))) == "DEEP"
    assert [depth for _, depth in scripts.depths] == [1, 2, 3]
    # depth 1 → 2 → 3 Relay, whose call of Shout would be depth 4
    four = BotCallRequest("Relay", [user("Relay: Relay: Shout: deeper")])
    with pytest.raises(BotCallRefused, match="at most 3 levels deep") as raised:
        await collect(router.call_bot(four))
    assert raised.value.bot_name == "Shout"


async def test_nested_calls_share_the_callers_budget(upstream: Upstream) -> None:
    router = BotRouter(upstream_bots(upstream, budget=CallBudget(3)), FakeScripts({"Relay": relay}))
    # Relay (1) → Relay (2) → Echo upstream (3)
    parts = await collect(router.call_bot(BotCallRequest("Relay", [user("Relay: Echo: hi")])))
    assert joined(parts) == "hi"
    assert router.budget.used == 3
    with pytest.raises(BotCallLimit):
        await collect(router.call_bot(BotCallRequest("Echo", [user("x")])))


async def test_a_router_without_hosted_scripts_goes_upstream(upstream: Upstream) -> None:
    router = BotRouter(upstream_bots(upstream))
    assert joined(await collect(router.call_bot(BotCallRequest("Echo", [user("y")])))) == "y"


async def events(*items: Any) -> AsyncIterator[Any]:
    for item in items:
        await asyncio.sleep(0)
        yield item


async def test_a_hosted_run_becomes_parts_like_a_bot() -> None:
    info = AttachmentInfo(url="https://f.example/a", content_type="text/plain", name="a")
    run = events(
        Started(),
        MessageAdded(0, "bot", "Hel"),
        TextAppended(0, "lo"),
        MessageAdded(1, "bot", "more"),
        TextReplaced(0, "Bye"),
        AttachmentAdded(1, info),
        RunEnd(status="ok"),
    )
    parts = await collect(parts_from_run("Script", run))
    assert [(p.text, p.is_replace_response) for p in parts[:4]] == [
        ("Hel", False),
        ("lo", False),
        ("\n\nmore", False),
        ("Bye\n\nmore", True),
    ]
    assert parts[4].attachment == fp.Attachment(url=info.url, content_type="text/plain", name="a")


async def test_a_failed_hosted_run_raises_with_its_error() -> None:
    run = events(MessageAdded(0, "bot", "x"), RunEnd(status="error", error="ValueError: nope"))
    with pytest.raises(BotCallRefused) as raised:
        await collect(parts_from_run("Script", run))
    assert (raised.value.bot_name, raised.value.message) == ("Script", "ValueError: nope")
    limited = events(RunEnd(status="timeout", limit="time"))
    with pytest.raises(BotCallRefused, match="reached its time limit"):
        await collect(parts_from_run("Script", limited))


async def test_a_failed_message_of_a_hosted_run_fails_the_call_after_its_text() -> None:
    run = events(MessageAdded(0, "bot", "half"), MessageFailed(0, "gave up"), RunEnd("ok"))
    seen: list[str] = []
    with pytest.raises(BotCallRefused) as raised:
        async for part in parts_from_run("Script", run):
            seen.append(part.text)
    assert seen == ["half"] and raised.value.message == "gave up"


async def test_an_invalid_event_of_a_hosted_run_is_refused() -> None:
    run = events(TextAppended(3, "x"))
    with pytest.raises(BotCallRefused, match="sent an invalid event"):
        await collect(parts_from_run("Script", run))
