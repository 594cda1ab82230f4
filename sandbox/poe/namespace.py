"""The script's globals for one run: ``poe``, ``print`` and ``input`` (SPEC §8).

``build_namespace`` is what the sandbox child calls; ``ScriptNamespace.finish`` ends the
run's chat. ``poe`` is an instance of a small class, not a module: its public attributes
are the reference's names and nothing else, and the run's state sits under ``_rt``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

import fastapi_poe as fp
from fastapi_poe.types import ToolCallDefinitionDelta

# Poe's properties Chat, Message and Sender shadow these classes' names in its body: its
# methods name them through their modules.
from sandbox.poe import calls, chat, messages
from sandbox.poe import tools as tooling
from sandbox.poe.attachments import Attachment
from sandbox.poe.chat import Chat, UserMember
from sandbox.poe.errors import BotError
from sandbox.poe.messages import Message, Sender
from sandbox.poe.parallel import parallel as run_parallel
from sandbox.poe.parallel import repeat as run_repeat
from sandbox.poe.port import HostPort
from sandbox.poe.runtime import Runtime

_NO_QUERY_WHEN_SAVED = (
    "poe.query is not available while the script's settings are read, when it is saved: "
    'use it under if __name__ == "__main__":'
)


class _QueryOverride:
    """``with poe.set_query(...)``: the query seen inside the block."""

    __slots__ = ("_query", "_rt", "_tokens")

    def __init__(self, rt: Runtime, query: Message) -> None:
        self._rt = rt
        self._query = query
        self._tokens: list[Any] = []

    def __enter__(self) -> Message:
        self._tokens.append(self._rt.query_var.set(self._query))
        return self._query

    def __exit__(self, *exc_info: object) -> None:
        self._rt.query_var.reset(self._tokens.pop())


class Poe:
    """The global ``poe`` of a script bot (reference 004)."""

    __slots__ = ("_rt",)

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    # -- types and values ---------------------------------------------------------------

    @property
    def Sender(self) -> type[Sender]:  # the reference's names
        return Sender

    @property
    def Attachment(self) -> type[Attachment]:
        return self._rt.Attachment

    @property
    def Message(self) -> type[Message]:
        return self._rt.Message

    @property
    def Chat(self) -> type[Chat]:
        return self._rt.Chat

    @property
    def UserMember(self) -> type[UserMember]:
        return UserMember

    @property
    def Doc(self) -> type[tooling.Doc]:
        return tooling.Doc

    @property
    def BotError(self) -> type[BotError]:
        return BotError

    @property
    def bot_name(self) -> str:
        return self._rt.bot_name

    @property
    def default_chat(self) -> chat.Chat:
        return self._rt.default_chat()

    @property
    def query(self) -> messages.Message:
        query = self._rt.query_var.get()
        if query is None:
            if self._rt.settings_run:
                raise ValueError(_NO_QUERY_WHEN_SAVED)
            raise ValueError("This run was started without a query, so poe.query is not set")
        return query

    def set_query(self, query: messages.Message | str) -> _QueryOverride:
        """Within ``with poe.set_query(q):``, ``poe.query`` is ``q``."""
        return _QueryOverride(self._rt, self._rt.as_message(query, "set_query"))

    # -- bot calls and tools ------------------------------------------------------------

    def call(
        self,
        bot_name: str,
        *prompts: str | messages.Message | chat.Chat,
        output: chat.Chat | None = None,
        tools: Sequence[Callable[..., Any]] = (),
        temperature: float | None = None,
        debug_show_chat: bool = False,
        adopt_current_bot_name: bool = False,
        parameters: dict[str, Any] | None = None,
    ) -> chat.Chat:
        """Call a bot; returns a chat of its messages, streamed into ``output`` if given.
        ``parameters`` are merged over the last message's parameters."""
        return calls.call(
            self._rt,
            bot_name,
            prompts,
            output=output,
            tools=tools,
            temperature=temperature,
            debug_show_chat=debug_show_chat,
            adopt_current_bot_name=adopt_current_bot_name,
            parameters=parameters,
        )

    def stream(
        self,
        bot_name: str,
        *prompts: str | messages.Message | chat.Chat,
        tools: Sequence[Callable[..., Any]] = (),
        temperature: float | None = None,
        adopt_current_bot_name: bool = False,
        parameters: dict[str, Any] | None = None,
    ) -> calls.PartStream:
        """Call a bot; an iterator of its fp.PartialResponse parts as they arrive."""
        return calls.stream(
            self._rt,
            bot_name,
            prompts,
            tools=tools,
            temperature=temperature,
            adopt_current_bot_name=adopt_current_bot_name,
            parameters=parameters,
        )

    def call_tools(
        self, tool_call_request: messages.Message, tools: Sequence[Callable[..., Any]]
    ) -> messages.Message:
        return tooling.call_tools(self._rt, tool_call_request, tools)

    def update_tool_calls(
        self,
        tool_calls: dict[int, fp.ToolCallDefinition],
        tool_calls_deltas: list[ToolCallDefinitionDelta],
    ) -> None:
        tooling.update_tool_calls(tool_calls, tool_calls_deltas)

    def update_settings(self, settings: fp.SettingsResponse) -> None:
        """The bot's Poe settings. Taken when the script is saved (a settings run, which
        stops before ``if __name__ == "__main__":``); a query run ignores the call."""
        if not isinstance(settings, fp.SettingsResponse):
            raise TypeError("update_settings expects an fp.SettingsResponse")
        if self._rt.settings_run:
            self._rt.port.update_settings(settings.model_dump(mode="json", exclude_unset=True))

    # -- concurrency and chat -----------------------------------------------------------

    def parallel(
        self,
        *tasks: Callable[[], Any],
        return_exceptions: bool = False,
        skip_exceptions: bool = False,
    ) -> list[Any]:
        return run_parallel(
            self._rt.pool,
            tasks,
            return_exceptions=return_exceptions,
            skip_exceptions=skip_exceptions,
        )

    def repeat(self, n: int, func: Callable[[], Any]) -> list[Any]:
        return run_repeat(self._rt.pool, n, func)

    def start_message(
        self, sender: messages.Sender | str | None = None, content_type: str = "text/markdown"
    ) -> messages.Message:
        """``poe.default_chat.start_message``."""
        return self._rt.default_chat().start_message(sender=sender, content_type=content_type)

    def __repr__(self) -> str:
        return f"<poe for bot {self._rt.bot_name!r}>"


class _Builtins:
    """``print`` and ``input`` as the script sees them."""

    __slots__ = ("_rt",)

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    def print(
        self,
        *objects: object,
        sep: str | None = " ",
        end: str | None = "\n",
        file: Any = None,
        flush: bool = False,
    ) -> None:
        """Post ``sep.join(objects) + end`` as one message to ``poe.default_chat``.

        The message boundary stands for the line break, so one trailing newline of ``end``
        is not kept: ``print("hi")`` posts "hi", ``print("hi", end="!")`` posts "hi!"."""
        sep = " " if sep is None else sep
        end = "\n" if end is None else end
        if not isinstance(sep, str) or not isinstance(end, str):
            raise TypeError("sep and end must be None or a str")
        text = sep.join(str(o) for o in objects) + end
        if file is not None:  # print(..., file=buffer) writes to that object, as usual
            file.write(text)
            if flush:
                file.flush()
            return
        text = sep.join(str(o) for o in objects) + end.removesuffix("\n")
        message = self._rt.Message(text=text, sender=self._rt.bot_sender())
        self._rt.default_chat().add_message(message)

    def input(self, *args: object) -> NoReturn:
        raise NotImplementedError("input() is not supported in script bots")


@dataclass
class ScriptNamespace:
    """What the sandbox child puts into the script's globals and builtins."""

    poe: object
    print: Callable[..., None]
    input: Callable[..., NoReturn]
    _runtime: Runtime = field(repr=False)

    def finish(self) -> None:
        """End of run: finish echoed messages still in progress; stop the thread pool."""
        self._runtime.close()


def build_namespace(
    port: HostPort,
    *,
    bot_name: str,
    conversation: list[fp.ProtocolMessage],
    max_output_chars: int = 100_000,
    users: Sequence[fp.User] = (),
    settings_run: bool = False,
) -> ScriptNamespace:
    """``settings_run``: the save-time run that reads ``poe.update_settings`` (protocol
    RunMode "settings"); ``port`` then refuses output, bot calls and fetches itself."""
    runtime = Runtime(
        port,
        bot_name=bot_name,
        conversation=list(conversation),
        max_output_chars=max_output_chars,
        users=users,
        settings_run=settings_run,
    )
    builtins = _Builtins(runtime)
    return ScriptNamespace(
        poe=Poe(runtime), print=builtins.print, input=builtins.input, _runtime=runtime
    )
