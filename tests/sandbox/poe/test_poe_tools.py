"""Tool calling: poe.Doc schemas, update_tool_calls, call_tools and the tool loop of poe.call."""

from __future__ import annotations

import enum
import json
from collections.abc import Iterator
from typing import Literal

import fastapi_poe as fp
import pytest
from fastapi_poe.types import (
    FunctionCallDefinition,
    FunctionCallDefinitionDelta,
    ToolCallDefinitionDelta,
)

from sandbox.poe.tools import Doc
from sandbox.protocol import BotCallRequest
from tests.sandbox.poe.harness import MakeRun, Run

# -- bots replaying what fastapi_poe bots send when asked with tools -------------------------


def openai_chunk(delta: dict[str, object], finish_reason: str | None = None) -> fp.PartialResponse:
    """A `json` event as fastapi_poe's client yields it: the raw OpenAI streaming chunk."""
    return fp.PartialResponse(
        text="",
        data={"choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]},
    )


def weather_bot_json(request: BotCallRequest) -> Iterator[fp.PartialResponse]:
    """Asks for two tools in raw chunks (arguments split across parts), then answers."""
    if request.tool_results is None:
        yield openai_chunk({"role": "assistant", "content": None})
        yield openai_chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_a",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                ]
            }
        )
        yield openai_chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"loc'}}]})
        yield openai_chunk(
            {
                "tool_calls": [
                    {"index": 0, "function": {"arguments": 'ation": "Paris"}'}},
                    {
                        "index": 1,
                        "id": "call_b",
                        "type": "function",
                        "function": {"name": "plus", "arguments": '{"a": 2,'},
                    },
                ]
            }
        )
        yield openai_chunk({"tool_calls": [{"index": 1, "function": {"arguments": ' "b": 3}'}}]})
        yield openai_chunk({}, finish_reason="tool_calls")
        return
    results = {r["tool_call_id"]: json.loads(r["content"]) for r in request.tool_results}
    yield openai_chunk({"content": f"Paris: {results['call_a']}. "})
    yield openai_chunk({"content": f"Sum: {results['call_b']}"})
    yield openai_chunk({}, finish_reason="stop")


def weather_bot_deltas(request: BotCallRequest) -> Iterator[fp.PartialResponse]:
    """The same conversation as fastapi_poe's client yields it with tools but no executables:
    PartialResponse.tool_calls deltas, then text events."""
    if request.tool_results is None:
        yield fp.PartialResponse(
            text="",
            tool_calls=[
                ToolCallDefinitionDelta(
                    index=0,
                    id="call_a",
                    type="function",
                    function=FunctionCallDefinitionDelta(name="get_weather", arguments=""),
                )
            ],
        )
        yield fp.PartialResponse(
            text="",
            tool_calls=[
                ToolCallDefinitionDelta(
                    index=0,
                    function=FunctionCallDefinitionDelta(arguments='{"location": "Paris"}'),
                )
            ],
        )
        return
    (result,) = request.tool_results
    yield fp.PartialResponse(text=f"Paris: {json.loads(result['content'])}")


def get_weather(location):
    """Get current weather information for a specified location"""
    return f"sunny in {location}"


def plus(a, b=0):
    """Add two integers"""
    return a + b


# Real poe.Doc objects, as the sandbox compiler leaves a script's annotations (this module's
# own annotations are strings, under `from __future__ import annotations`).
get_weather.__annotations__.update(location=Doc[str, "City name or location"])
plus.__annotations__.update(a=Doc[int, "first"], b=Doc[int, "second"])


# -- poe.Doc and tool definitions ----------------------------------------------------------


def test_doc_holds_type_and_description(run: Run) -> None:
    doc = run.poe.Doc[str, "City name"]
    assert isinstance(doc, run.poe.Doc)
    assert (doc.type, doc.description) == (str, "City name")
    assert doc == run.poe.Doc(str, "City name")
    with pytest.raises(TypeError):
        run.poe.Doc[str]
    with pytest.raises(TypeError):
        run.poe.Doc[str, 3]


def schema_of(run: Run, source: str) -> dict[str, object]:
    env = run.exec(source)
    (func,) = [v for k, v in env.items() if k.startswith("tool")]
    run.port.bots["Spy"] = lambda request: iter(())
    run.poe.call("Spy", "x", tools=[func])
    (tool,) = run.port.requests[-1].tools or []
    fp.ToolDefinition.model_validate(tool)
    return tool


def test_schema_of_a_simple_tool(run: Run) -> None:
    tool = schema_of(
        run,
        'def tool_weather(location: poe.Doc[str, "City"]) -> str:\n    """Get current weather"""\n',
    )
    assert tool == {
        "type": "function",
        "function": {
            "name": "tool_weather",
            "description": "Get current weather",
            "parameters": {
                "type": "object",
                "properties": {"location": {"type": "string", "description": "City"}},
                "required": ["location"],
            },
        },
    }


def test_schema_defaults_are_optional_and_types_map(run: Run) -> None:
    tool = schema_of(
        run,
        "import typing\n"
        "def tool_search(\n"
        '    query: poe.Doc[str, "q"],\n'
        '    limit: poe.Doc[int, "n"] = 10,\n'
        '    ratio: poe.Doc[float, "r"] = 0.5,\n'
        '    exact: poe.Doc[bool, "e"] = False,\n'
        '    tags: poe.Doc[list[str], "t"] = (),\n'
        '    extra: poe.Doc[dict[str, int], "x"] = None,\n'
        '    *, mode: poe.Doc[typing.Literal["fast", "slow"], "m"],\n'
        '    note: poe.Doc[str | None, "maybe"] = None,\n'
        "):\n"
        '    """Search.\n\n    Longer description.\n    """\n',
    )
    function = tool["function"]
    assert function["description"] == "Search.\n\nLonger description."
    props = function["parameters"]["properties"]
    assert props == {
        "query": {"type": "string", "description": "q"},
        "limit": {"type": "integer", "description": "n"},
        "ratio": {"type": "number", "description": "r"},
        "exact": {"type": "boolean", "description": "e"},
        "tags": {"type": "array", "items": {"type": "string"}, "description": "t"},
        "extra": {
            "type": "object",
            "additionalProperties": {"type": "integer"},
            "description": "x",
        },
        "mode": {"type": "string", "enum": ["fast", "slow"], "description": "m"},
        "note": {"type": "string", "description": "maybe"},
    }
    assert function["parameters"]["required"] == ["query", "mode"]


def test_schema_of_an_enum_and_no_parameters(run: Run) -> None:
    from sandbox.poe.tools import json_schema, tool_definition

    class Unit(enum.Enum):
        C = "celsius"
        F = "fahrenheit"

    assert json_schema(Unit) == {"type": "string", "enum": ["celsius", "fahrenheit"]}
    assert json_schema(Literal[1, 2]) == {"type": "integer", "enum": [1, 2]}
    assert json_schema(tuple[int, str]) == {
        "type": "array",
        "prefixItems": [{"type": "integer"}, {"type": "string"}],
    }

    def now() -> str:
        """The time"""
        return "noon"

    parameters = tool_definition(now).function.parameters
    assert (parameters.properties, parameters.required) == ({}, [])


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ('def tool(x: poe.Doc[str, "x"]):\n    pass\n', "docstring"),
        ('def tool(x):\n    """Doc"""\n', "annotate parameter 'x'"),
        ('def tool(x: str):\n    """Doc"""\n', "annotate parameter 'x'"),
        ('def tool(*args: poe.Doc[str, "a"]):\n    """Doc"""\n', "cannot be passed by name"),
        ('def tool(x: poe.Doc[bytes, "b"]):\n    """Doc"""\n', "no JSON-schema"),
        ('def tool(x: poe.Doc["str", "s"]):\n    """Doc"""\n', "is a string"),
    ],
)
def test_bad_tools_are_refused_with_type_error(run: Run, source: str, message: str) -> None:
    env = run.exec(source)
    with pytest.raises(TypeError, match=message):
        run.poe.call("Any", "x", tools=[env["tool"]])
    with pytest.raises(TypeError, match=message):
        run.poe.stream("Any", "x", tools=[env["tool"]])
    assert run.port.requests == []


def test_string_annotations_are_never_evaluated(run: Run) -> None:
    source = (
        "from __future__ import annotations\n"
        "evaluated = []\n"
        "def tool(x: evaluated.append(1) or poe.Doc[str, 'x']):\n"
        '    """Doc"""\n'
    )
    env = run.exec(source)
    with pytest.raises(TypeError, match="may not contain BoolOp"):
        run.poe.call("Any", "x", tools=[env["tool"]])
    assert env["evaluated"] == []


FUTURE_TOOLS = """
from __future__ import annotations
import enum
import typing
from typing import Literal, Optional

class Unit(enum.Enum):
    C = "celsius"
    F = "fahrenheit"

def tool_weather(
    city: poe.Doc[str, "City name"],
    unit: poe.Doc[Unit, "Unit"],
    days: poe.Doc[int | None, "Days ahead"] = None,
    tags: poe.Doc[list[str], "Tags"] = (),
    mode: poe.Doc[Literal["fast", "slow"], "Mode"] = "fast",
    note: poe.Doc(Optional[str], "A note") = None,
    pair: poe.Doc[typing.Tuple[int, str], "Pair"] = (1, "a"),
):
    \"\"\"Weather for a city\"\"\"
"""


def test_string_annotations_are_read_back_into_schemas(run: Run) -> None:
    tool = schema_of(run, FUTURE_TOOLS)
    properties = tool["function"]["parameters"]["properties"]  # type: ignore[index]
    assert properties == {
        "city": {"type": "string", "description": "City name"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "Unit"},
        "days": {"type": "integer", "description": "Days ahead"},
        "tags": {"type": "array", "items": {"type": "string"}, "description": "Tags"},
        "mode": {"type": "string", "enum": ["fast", "slow"], "description": "Mode"},
        "note": {"type": "string", "description": "A note"},
        "pair": {
            "type": "array",
            "prefixItems": [{"type": "integer"}, {"type": "string"}],
            "description": "Pair",
        },
    }
    assert tool["function"]["parameters"]["required"] == ["city", "unit"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("annotation", "message"),
    [
        ("__import__('os')", "private names"),
        ("poe.call('Bot', 'x')", "may call poe.Doc only"),
        ("poe._rt", "private attributes"),
        ("poe.Doc.__class__", "private attributes"),
        ("_hidden", "private names"),
        ("(lambda: poe.Doc[str, 'x'])()", "Lambda"),
        ("[c for c in 'ab']", "ListComp"),
        ("poe.Doc[str, 'x'] if True else 1", "IfExp"),
        ("print('hi')", "may call poe.Doc only"),
        ("poe.Doc(*('x', 'y'))", "plain arguments"),
        ("undefined_name", "does not define"),
        ("poe.Doc[str, 'x'" + ")" * 3, "not an expression"),
        ("list[" * 300 + "str" + "]" * 300, "too"),
        ("'" + "x" * 3000 + "'", "too long"),
    ],
)
def test_string_annotations_refuse_what_is_not_a_type(
    run: Run, annotation: str, message: str
) -> None:
    env = run.exec('def tool(x):\n    """Doc"""\n', _hidden=str)
    env["tool"].__annotations__["x"] = annotation  # as `from __future__ import annotations`
    with pytest.raises(TypeError, match=message):
        run.poe.call("Any", "x", tools=[env["tool"]])
    assert run.port.requests == [] and run.events == []


def test_tools_must_be_a_sequence_of_functions(run: Run) -> None:
    with pytest.raises(TypeError):
        run.poe.call("Any", "x", tools=get_weather)
    with pytest.raises(TypeError):
        run.poe.call("Any", "x", tools=["get_weather"])


# -- update_tool_calls and call_tools -------------------------------------------------------


def test_update_tool_calls_aggregates_by_index(run: Run) -> None:
    calls: dict[int, fp.ToolCallDefinition] = {}
    delta = ToolCallDefinitionDelta
    fn = FunctionCallDefinitionDelta
    run.poe.update_tool_calls(
        calls, [delta(index=0, id="c0", type="function", function=fn(name="f", arguments='{"a"'))]
    )
    run.poe.update_tool_calls(
        calls,
        [
            delta(index=0, function=fn(arguments=": 1}")),
            delta(index=1, id="c1", type="function", function=fn(name="g", arguments="")),
            delta(index=2, function=fn(arguments="orphan")),  # no first chunk: ignored
        ],
    )
    run.poe.update_tool_calls(calls, [{"index": 1, "function": {"arguments": "{}"}}])
    assert calls == {
        0: fp.ToolCallDefinition(
            id="c0",
            type="function",
            function=FunctionCallDefinition(name="f", arguments='{"a": 1}'),
        ),
        1: fp.ToolCallDefinition(
            id="c1", type="function", function=FunctionCallDefinition(name="g", arguments="{}")
        ),
    }
    with pytest.raises(TypeError):
        run.poe.update_tool_calls([], [])


def tool_call_message(run: Run, *calls: tuple[str, str, str]) -> object:
    return run.poe.Message(
        text=json.dumps(
            [
                {"id": i, "type": "function", "function": {"name": n, "arguments": a}}
                for i, n, a in calls
            ]
        ),
        sender="bot",
        is_tool_call=True,
    )


def test_call_tools_runs_the_requested_functions(run: Run) -> None:
    request = tool_call_message(
        run, ("c1", "get_weather", '{"location": "Oslo"}'), ("c2", "plus", '{"a": 1, "b": 2}')
    )
    result = run.poe.call_tools(request, [get_weather, plus])
    assert isinstance(result, run.poe.Message)
    assert result.is_tool_call and result.role == "tool"
    results = [fp.ToolResultDefinition.model_validate(r) for r in json.loads(result.text)]
    assert results == [
        fp.ToolResultDefinition(
            role="tool", name="get_weather", tool_call_id="c1", content='"sunny in Oslo"'
        ),
        fp.ToolResultDefinition(role="tool", name="plus", tool_call_id="c2", content="3"),
    ]


def test_call_tools_reports_model_mistakes_as_results(run: Run) -> None:
    request = tool_call_message(run, ("c1", "nope", "{}"), ("c2", "plus", "not json"))
    results = json.loads(run.poe.call_tools(request, [plus]).text)
    assert "no tool named 'nope'" in json.loads(results[0]["content"])
    assert "not a JSON object" in json.loads(results[1]["content"])


def test_call_tools_lets_the_tool_errors_raise(run: Run) -> None:
    def broken() -> None:
        """Fails"""
        raise RuntimeError("tool bug")

    with pytest.raises(RuntimeError, match="tool bug"):
        run.poe.call_tools(tool_call_message(run, ("c", "broken", "")), [broken])


def test_call_tools_refuses_a_message_without_tool_calls(run: Run) -> None:
    with pytest.raises(ValueError):
        run.poe.call_tools(run.poe.Message(text="hello"), [plus])
    with pytest.raises(ValueError):
        run.poe.call_tools(run.poe.Message(text='{"not": "a list"}'), [plus])
    with pytest.raises(TypeError):
        run.poe.call_tools("[]", [plus])


# -- the tool loop -------------------------------------------------------------------------


@pytest.mark.parametrize("bot", [weather_bot_json, weather_bot_deltas])
def test_call_runs_the_tool_loop(make_run: MakeRun, bot) -> None:
    run = make_run({"GPT-4o": bot})
    reply = run.poe.call(
        "GPT-4o",
        "Weather in Paris, and 2+3?",
        tools=[get_weather, plus],
        output=run.poe.default_chat,
    )
    first, second = run.port.requests
    assert first.tools is not None and [t["function"]["name"] for t in first.tools] == [
        "get_weather",
        "plus",
    ]
    assert first.tool_calls is None and first.tool_results is None
    assert second.messages == first.messages and second.tools == first.tools
    assert second.tool_calls and second.tool_results
    assert [c["id"] for c in second.tool_calls] == [r["tool_call_id"] for r in second.tool_results]
    assert json.loads(second.tool_calls[0]["function"]["arguments"]) == {"location": "Paris"}
    assert json.loads(second.tool_results[0]["content"]) == "sunny in Paris"
    expected = "Paris: sunny in Paris" + (". Sum: 5" if bot is weather_bot_json else "")
    assert reply.last.text == expected and reply.text == expected
    asked, answered = reply.messages[:2]
    assert asked.is_tool_call and asked.role == "bot" and answered.role == "tool"
    assert len(reply) == 3
    assert run.port.texts() == [expected]  # only the answer is shown


def test_tool_loop_stops_after_five_rounds(make_run: MakeRun) -> None:
    def insistent(request: BotCallRequest) -> Iterator[fp.PartialResponse]:
        number = len(request.tool_calls or [])
        yield fp.PartialResponse(
            text="",
            tool_calls=[
                ToolCallDefinitionDelta(
                    id=f"c{number}",
                    type="function",
                    function=FunctionCallDefinitionDelta(name="plus", arguments='{"a": 1}'),
                )
            ],
        )

    run = make_run({"Loop": insistent})
    reply = run.poe.call("Loop", "go", tools=[plus])
    assert len(run.port.requests) == 5
    assert [len(r.tool_calls or []) for r in run.port.requests] == [0, 1, 2, 3, 4]
    assert len(reply) == 9 and reply.last.text == ""


def test_stream_with_tools_yields_deltas_for_a_manual_loop(make_run: MakeRun) -> None:
    run = make_run({"GPT-4o": weather_bot_json})
    poe = run.poe
    calls: dict[int, fp.ToolCallDefinition] = {}
    for part in poe.stream("GPT-4o", "Weather?", tools=[get_weather, plus]):
        assert part.text == ""
        poe.update_tool_calls(calls, part.tool_calls)
    assert [c.function.name for c in calls.values()] == ["get_weather", "plus"]
    request = poe.Message(
        text=json.dumps([c.model_dump() for c in calls.values()]), sender="bot", is_tool_call=True
    )
    results = poe.call_tools(request, [get_weather, plus])
    answer = poe.call("GPT-4o", "Weather?", request, results, tools=[get_weather, plus])
    assert answer.text == "Paris: sunny in Paris. Sum: 5"
    last = run.port.requests[-1]
    assert [m["content"] for m in last.messages] == ["Weather?"]
    assert [c["id"] for c in last.tool_calls or []] == ["call_a", "call_b"]
