"""Tool calling: ``poe.Doc``, tool definitions, ``call_tools`` and ``update_tool_calls``.

Annotations are read as the objects they are, never evaluated with ``eval``: a string
annotation (``from __future__ import annotations``) is read back by the small resolver of
``annotations.py``, which allows names, attributes, subscripts and ``poe.Doc`` only.
"""

from __future__ import annotations

import enum
import inspect
import json
import types
import typing
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import fastapi_poe as fp
from fastapi_poe.types import (
    FunctionCallDefinition,
    FunctionDefinition,
    ParametersDefinition,
    ToolCallDefinitionDelta,
)

from sandbox.poe.annotations import resolve_annotation
from sandbox.poe.messages import Message

if TYPE_CHECKING:
    from sandbox.poe.runtime import Runtime

_SIMPLE_TYPES: dict[Any, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    dict: "object",
    list: "array",
    tuple: "array",
    set: "array",
    frozenset: "array",
    type(None): "null",
}


class Doc:
    """``poe.Doc[type, "description"]``: the annotation of a tool function's parameter."""

    __slots__ = ("description", "type")

    def __init__(self, type: Any, description: str) -> None:
        if not isinstance(description, str):
            raise TypeError("poe.Doc description must be a str")
        self.type = type
        self.description = description

    def __class_getitem__(cls, params: Any) -> Doc:
        if not isinstance(params, tuple) or len(params) != 2:
            raise TypeError('use poe.Doc[type, "description"]')
        return cls(*params)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Doc):
            return NotImplemented
        return (self.type, self.description) == (other.type, other.description)

    def __hash__(self) -> int:
        return hash((Doc, self.description))

    def __repr__(self) -> str:
        return f"poe.Doc[{getattr(self.type, '__name__', self.type)!s}, {self.description!r}]"


def json_schema(tp: Any) -> dict[str, Any]:
    """The JSON-schema of a Python type given in a ``poe.Doc``."""
    if tp is Any or tp is object:
        return {}
    if isinstance(tp, str):
        raise TypeError(f"type {tp!r} is a string; give the type itself")
    if tp in _SIMPLE_TYPES:
        return {"type": _SIMPLE_TYPES[tp]}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        values = [member.value for member in tp]
        return {**_literal_type(values), "enum": values}
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Literal:
        return {**_literal_type(list(args)), "enum": list(args)}
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:
            return json_schema(options[0])
        return {"anyOf": [json_schema(a) for a in args]}
    if origin in (list, set, frozenset, Sequence, Iterable) or (
        origin is tuple and len(args) == 2 and args[1] is Ellipsis
    ):
        return {"type": "array", "items": json_schema(args[0])} if args else {"type": "array"}
    if origin is tuple:
        return {"type": "array", "prefixItems": [json_schema(a) for a in args]}
    if origin is dict:
        schema: dict[str, Any] = {"type": "object"}
        if len(args) == 2:
            schema["additionalProperties"] = json_schema(args[1])
        return schema
    raise TypeError(f"poe.Doc type {tp!r} has no JSON-schema equivalent")


def _literal_type(values: list[Any]) -> dict[str, Any]:
    kinds = {_SIMPLE_TYPES.get(type(v)) for v in values}
    return {"type": kinds.pop()} if len(kinds) == 1 and None not in kinds else {}


def tool_name(func: Callable[..., Any]) -> str:
    if not callable(func):
        raise TypeError(f"a tool must be a function, not {type(func).__name__}")
    name = getattr(func, "__name__", None)
    if not isinstance(name, str) or not name.isidentifier():
        raise TypeError(f"tool {func!r} needs a function name")
    return name


def tool_definition(func: Callable[..., Any]) -> fp.ToolDefinition:
    """The fp.ToolDefinition of a documented function whose parameters are poe.Doc-annotated."""
    name = tool_name(func)
    doc = inspect.getdoc(func)
    if not doc:
        raise TypeError(f"tool {name!r} needs a docstring: it is the tool's description")
    properties: dict[str, object] = {}
    required: list[str] = []
    for param in inspect.signature(func).parameters.values():  # annotations stay unevaluated
        if param.kind not in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
            raise TypeError(f"tool {name!r}: parameter {param.name!r} cannot be passed by name")
        annotation = param.annotation
        if isinstance(annotation, str):
            try:
                annotation = resolve_annotation(annotation, func, Doc)
            except Exception as exc:  # whatever the script's objects raise on the way
                raise TypeError(
                    f"tool {name!r}, parameter {param.name!r}: {type(exc).__name__}: {exc}"
                ) from None
        if not isinstance(annotation, Doc):
            raise TypeError(
                f"tool {name!r}: annotate parameter {param.name!r} with "
                f'poe.Doc[type, "description"] (found {annotation!r})'
            )
        try:
            schema = json_schema(annotation.type)
        except TypeError as exc:
            raise TypeError(f"tool {name!r}, parameter {param.name!r}: {exc}") from None
        properties[param.name] = {**schema, "description": annotation.description}
        if param.default is param.empty:
            required.append(param.name)
    return fp.ToolDefinition(
        type="function",
        function=FunctionDefinition(
            name=name,
            description=doc,
            parameters=ParametersDefinition(
                type="object", properties=properties, required=required
            ),
        ),
    )


def tool_definitions(tools: Sequence[Callable[..., Any]]) -> list[fp.ToolDefinition]:
    if callable(tools) or isinstance(tools, str | bytes):
        raise TypeError("tools must be a sequence of functions")
    return [tool_definition(func) for func in tools]


def update_tool_calls(
    tool_calls: dict[int, fp.ToolCallDefinition],
    tool_calls_deltas: list[ToolCallDefinitionDelta],
) -> None:
    """Fold streamed deltas into whole tool calls by index, in place (as fastapi_poe does)."""
    if not isinstance(tool_calls, dict):
        raise TypeError("tool_calls must be a dict of index -> fp.ToolCallDefinition")
    for raw in tool_calls_deltas:
        delta = ToolCallDefinitionDelta.model_validate(raw)
        known = tool_calls.get(delta.index)
        if known is None:
            # The first chunk of an index names the call; without that it cannot be used.
            if delta.id is None or delta.type is None or delta.function.name is None:
                continue
            tool_calls[delta.index] = fp.ToolCallDefinition(
                id=delta.id,
                type=delta.type,
                function=FunctionCallDefinition(
                    name=delta.function.name, arguments=delta.function.arguments
                ),
            )
        else:
            tool_calls[delta.index] = known.model_copy(
                update={
                    "function": FunctionCallDefinition(
                        name=known.function.name,
                        arguments=known.function.arguments + delta.function.arguments,
                    )
                }
            )


def tool_call_deltas(part: fp.PartialResponse) -> list[ToolCallDefinitionDelta] | None:
    """The tool-call deltas a part carries: as fastapi_poe's client yields them, or in the
    raw OpenAI chunk of a ``json`` event (``data.choices[0].delta.tool_calls``)."""
    if part.tool_calls:
        return list(part.tool_calls)
    choice = _first_choice(part)
    if choice is None or choice.get("finish_reason") is not None:
        return None
    delta = choice.get("delta") or {}
    if "tool_calls" in delta:
        return [ToolCallDefinitionDelta.model_validate(d) for d in delta["tool_calls"] or []]
    return None


def normalise_part(part: fp.PartialResponse) -> fp.PartialResponse | None:
    """A part of a call with tools, in the shape fastapi_poe's client gives: raw OpenAI
    chunks become text or ``tool_calls`` parts; a finishing chunk becomes nothing."""
    choice = _first_choice(part)
    if choice is None:
        return part
    if choice.get("finish_reason") is not None:
        return None
    deltas = tool_call_deltas(part)
    if deltas is not None:
        return fp.PartialResponse(text="", tool_calls=deltas, index=part.index)
    content = (choice.get("delta") or {}).get("content")
    if isinstance(content, str) and content:
        return fp.PartialResponse(text=content, index=part.index)
    return None


def _first_choice(part: fp.PartialResponse) -> dict[str, Any] | None:
    data = part.data
    if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
        return None
    choices = data["choices"]
    return choices[0] if choices and isinstance(choices[0], dict) else None


def call_tools(
    rt: Runtime, tool_call_request: Message, tools: Sequence[Callable[..., Any]]
) -> Message:
    """Run the calls a tool-call message asks for; a message of their results as JSON."""
    if not isinstance(tool_call_request, Message):
        raise TypeError("call_tools expects the tool call request as a poe.Message")
    calls = parse_tool_calls(tool_call_request.text)
    by_name = {tool_name(func): func for func in tools}
    results = [_run_tool(by_name, call) for call in calls]
    return rt.Message(
        text=json.dumps([r.model_dump() for r in results]), sender="tool", is_tool_call=True
    )


def _run_tool(
    by_name: dict[str, Callable[..., Any]], call: fp.ToolCallDefinition
) -> fp.ToolResultDefinition:
    name = call.function.name
    func = by_name.get(name)
    # A model's mistake goes back to the model as the result; the tool's own errors raise.
    if func is None:
        content = json.dumps(f"Error: there is no tool named {name!r}.")
    else:
        try:
            arguments = json.loads(call.function.arguments or "{}")
        except json.JSONDecodeError:
            arguments = None
        if isinstance(arguments, dict):
            content = json.dumps(func(**arguments), default=str)
        else:
            content = json.dumps("Error: the arguments are not a JSON object.")
    return fp.ToolResultDefinition(role="tool", name=name, tool_call_id=call.id, content=content)


def parse_tool_calls(text: str) -> list[fp.ToolCallDefinition]:
    """A tool-call message's text: a JSON list of fp.ToolCallDefinition (ValueError if not)."""
    return [fp.ToolCallDefinition.model_validate(item) for item in _json_list(text)]


def parse_tool_results(text: str) -> list[fp.ToolResultDefinition]:
    return [fp.ToolResultDefinition.model_validate(item) for item in _json_list(text)]


def _json_list(text: str) -> list[Any]:
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"a tool-call message must hold a JSON list: {exc}") from None
    if not isinstance(items, list):
        raise ValueError("a tool-call message must hold a JSON list")
    return items
