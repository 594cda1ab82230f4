"""A run of the `poe` runtime over the in-memory port, and bots that stream like real ones."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import fastapi_poe as fp

from sandbox.poe import MemoryPort, ScriptNamespace, build_namespace
from sandbox.poe.memory import Bot
from sandbox.poe.settings_run import SettingsRunPort
from sandbox.protocol import BotCallRequest, ChatEvent

BOT_NAME = "ScriptBot"


@dataclass
class Run:
    port: MemoryPort
    ns: ScriptNamespace

    @property
    def poe(self) -> Any:
        return self.ns.poe

    def print(self, *args: Any, **kwargs: Any) -> None:
        self.ns.print(*args, **kwargs)

    @property
    def events(self) -> list[ChatEvent]:
        return list(self.port.events)

    def exec(self, source: str, **extra: Any) -> dict[str, Any]:
        """Run script source as plain Python with the script's globals."""
        env: dict[str, Any] = {
            "poe": self.poe,
            "fp": fp,
            "print": self.ns.print,
            "input": self.ns.input,
            **extra,
        }
        exec(compile(source, "<script>", "exec", dont_inherit=True), env)
        return env


MakeRun = Callable[..., Run]


def new_run(
    bots: Mapping[str, Bot] | None = None,
    *,
    conversation: list[fp.ProtocolMessage] | list[str] | None = None,
    bot_name: str = BOT_NAME,
    max_output_chars: int = 100_000,
    files: Mapping[str, bytes] | None = None,
    max_bot_calls: int = 10,
    users: list[fp.User] | None = None,
    settings_run: bool = False,
) -> Run:
    """A fresh run; the conversation defaults to one user message, "Hello"."""
    if conversation is None:
        conversation = ["Hello"]
    messages = [
        fp.ProtocolMessage(role="user", content=m) if isinstance(m, str) else m
        for m in conversation
    ]
    port = MemoryPort(bots, files=files, max_bot_calls=max_bot_calls)
    ns = build_namespace(
        SettingsRunPort(port) if settings_run else port,
        bot_name=bot_name,
        conversation=messages,
        max_output_chars=max_output_chars,
        users=users or (),
        settings_run=settings_run,
    )
    return Run(port, ns)


def text_bot(*chunks: str) -> Bot:
    """A bot that streams these text chunks, like `text` events through fastapi_poe."""

    def bot(request: BotCallRequest) -> Iterator[fp.PartialResponse]:
        for chunk in chunks:
            yield fp.PartialResponse(text=chunk)

    return bot


def echo_bot(request: BotCallRequest) -> Iterator[fp.PartialResponse]:
    """Answers with the last prompt's text."""
    yield fp.PartialResponse(text=f"echo: {request.messages[-1]['content']}")
