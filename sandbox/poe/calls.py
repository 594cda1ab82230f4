"""``poe.call`` and ``poe.stream``: bot calls through the host port, and the tool loop.

Prompts become ``fp.ProtocolMessage`` dumps; tool-call messages among them (the manual
loop's request and results) become the request's ``tool_calls`` and ``tool_results``, as
fastapi_poe's client sends them. Bot failures and spent budgets are raised by the port
(BotCallError, LimitReached) and pass through unchanged.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import fastapi_poe as fp

from sandbox.poe.chat import Chat
from sandbox.poe.messages import Message, Sender, is_visible
from sandbox.poe.tools import (
    call_tools,
    normalise_part,
    parse_tool_calls,
    parse_tool_results,
    tool_definitions,
    update_tool_calls,
)
from sandbox.protocol import BotCallRequest

if TYPE_CHECKING:
    from sandbox.poe.runtime import Runtime

MAX_TOOL_ROUNDS = 5  # bot calls one poe.call may make while the bot keeps asking for tools


def clean_bot_name(bot_name: object) -> str:
    if not isinstance(bot_name, str):
        raise TypeError("bot_name must be a str")
    name = bot_name.strip().removeprefix("@")
    if not name:
        raise ValueError("bot_name must name a bot")
    return name


def normalise_prompts(rt: Runtime, prompts: tuple[object, ...]) -> list[Message]:
    """str, poe.Message and poe.Chat arguments as one flat list of messages."""
    messages: list[Message] = []
    for prompt in prompts:
        if isinstance(prompt, Chat):
            messages.extend(prompt.messages)
        else:
            messages.append(rt.as_message(prompt, "a bot call's prompts"))
    if not messages:
        raise ValueError("a bot call needs at least one prompt")
    return messages


def check_parameters(parameters: object) -> dict[str, Any] | None:
    """``parameters=`` of a bot call: None, or a dict of JSON values with str keys."""
    if parameters is None:
        return None
    if not isinstance(parameters, dict):
        raise TypeError("parameters must be a dict or None")
    try:
        checked: dict[str, Any] = json.loads(json.dumps(parameters))
    except (TypeError, ValueError) as exc:  # a key that is not a str, a value not JSON
        raise TypeError(f"parameters must hold JSON values with str keys: {exc}") from None
    if not all(isinstance(key, str) for key in parameters):
        raise TypeError("parameters must hold JSON values with str keys")
    return checked


def build_request(
    bot_name: str,
    messages: list[Message],
    tools: list[fp.ToolDefinition],
    temperature: float | None,
    adopt_current_bot_name: bool,
    parameters: dict[str, Any] | None = None,
) -> BotCallRequest:
    """The request; ``parameters`` are merged over the last message's own (Poe's runtime)."""
    plain: list[dict[str, Any]] = []
    tool_calls: list[dict[str, Any]] = []
    tool_results: list[dict[str, Any]] = []
    for message in messages:
        if not message.is_tool_call:
            plain.append(message.to_protocol_message().model_dump(mode="json"))
        elif message.role == "tool":
            tool_results += [r.model_dump() for r in parse_tool_results(message.text)]
        else:
            tool_calls += [c.model_dump() for c in parse_tool_calls(message.text)]
    if not plain:
        raise ValueError("a bot call needs at least one prompt that is not a tool call")
    if parameters:
        plain[-1]["parameters"] = {**plain[-1]["parameters"], **parameters}
    return BotCallRequest(
        bot_name=bot_name,
        messages=plain,
        tools=[t.model_dump() for t in tools] or None,
        tool_calls=tool_calls or None,
        tool_results=tool_results or None,
        temperature=None if temperature is None else float(temperature),
        adopt_current_bot_name=bool(adopt_current_bot_name),
    )


def _check_temperature(temperature: object) -> None:
    if temperature is not None and (
        not isinstance(temperature, int | float) or isinstance(temperature, bool)
    ):
        raise TypeError("temperature must be a number or None")


class PartStream:
    """The parts of one bot call, as they arrive. Closing it early cancels the call."""

    __slots__ = ("_closed", "_parts", "_port", "_request", "_with_tools")

    def __init__(self, rt: Runtime, request: BotCallRequest) -> None:
        self._port = rt.port
        self._request = request
        self._with_tools = request.tools is not None
        self._parts: Iterator[fp.PartialResponse] | None = None
        self._closed = False

    def __iter__(self) -> PartStream:
        return self

    def __next__(self) -> fp.PartialResponse:
        while not self._closed:
            try:
                if self._parts is None:  # the call starts on the first next()
                    self._parts = iter(self._port.call_bot(self._request))
                part = next(self._parts)
            except BaseException:
                self.close()
                raise
            shown = normalise_part(part) if self._with_tools else part
            if shown is not None:
                return shown
        raise StopIteration

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        parts, self._parts = self._parts, None
        close = getattr(parts, "close", None)
        if close is not None:
            close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # nothing can report it from a finalizer
            self.close()


def stream(
    rt: Runtime,
    bot_name: str,
    prompts: tuple[object, ...],
    *,
    tools: Sequence[Callable[..., Any]] = (),
    temperature: float | None = None,
    adopt_current_bot_name: bool = False,
    parameters: dict[str, Any] | None = None,
) -> PartStream:
    _check_temperature(temperature)
    request = build_request(
        clean_bot_name(bot_name),
        normalise_prompts(rt, prompts),
        tool_definitions(tools),
        temperature,
        adopt_current_bot_name,
        check_parameters(parameters),
    )
    return PartStream(rt, request)


def call(
    rt: Runtime,
    bot_name: str,
    prompts: tuple[object, ...],
    *,
    output: Chat | None = None,
    tools: Sequence[Callable[..., Any]] = (),
    temperature: float | None = None,
    debug_show_chat: bool = False,
    adopt_current_bot_name: bool = False,
    parameters: dict[str, Any] | None = None,
) -> Chat:
    name = clean_bot_name(bot_name)
    messages = normalise_prompts(rt, prompts)
    definitions = tool_definitions(tools)
    _check_temperature(temperature)
    extra = check_parameters(parameters)
    if output is not None and not isinstance(output, Chat):
        raise TypeError("output must be a poe.Chat or None")
    if debug_show_chat:
        _show_chat(rt, name, messages, definitions)
    reply = rt.Message(text="", sender=Sender(role="bot", name=name), in_progress=True)
    tool_messages: list[Message] = []
    started = False
    try:
        for round_number in range(1, MAX_TOOL_ROUNDS + 1):
            request = build_request(
                name,
                messages + tool_messages,
                definitions,
                temperature,
                adopt_current_bot_name,
                extra,
            )
            pending: dict[int, fp.ToolCallDefinition] = {}
            parts = PartStream(rt, request)
            try:
                for part in parts:
                    if part.tool_calls:
                        update_tool_calls(pending, part.tool_calls)
                        continue
                    if output is not None and not started and is_visible(part):
                        output.add_message(reply)  # streamed to the user from here on
                        started = True
                    reply.update(part)
            finally:
                parts.close()
            if not definitions or not pending or round_number == MAX_TOOL_ROUNDS:
                break
            calls = [pending[index] for index in sorted(pending)]
            asked = rt.Message(
                text=json.dumps([c.model_dump() for c in calls]),
                sender=Sender(role="bot", name=name),
                is_tool_call=True,
            )
            tool_messages += [asked, call_tools(rt, asked, tools)]
    finally:
        if reply.in_progress:
            reply.finish()
    if output is not None and not started:
        output.add_message(reply)  # the bot said nothing; the output still gets its answer
    return rt.Chat(*tool_messages, reply, initial_length=0)


def _show_chat(
    rt: Runtime, name: str, messages: list[Message], tools: list[fp.ToolDefinition]
) -> None:
    """debug_show_chat: print what the bot will receive, as a plain-text message."""
    text = f"Calling @{name} with:\n{rt.Chat(*messages).summarize()}"
    if tools:
        text += "\nTools: " + ", ".join(t.function.name for t in tools)
    message = rt.Message(text=text, sender=rt.bot_sender(), content_type="text/plain")
    rt.default_chat().add_message(message)
