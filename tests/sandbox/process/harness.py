"""Real sandbox runs for the process tests: a RunServices of our own, outcomes, /proc checks.

``TestServices`` is a second real implementation of RunServices (bots are async generator
functions, files a dict, the bot-call budget counted here as the service counts it). ``run``
drives ``SandboxPool.run`` to its RunEnd under a generous deadline (a hang fails, it never
blocks the suite). ``children_of`` and ``wait_no_zombies`` look at /proc, as an operator would.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import fastapi_poe as fp

from sandbox import SandboxPool, Spool
from sandbox.errors import BotCallLimit, BotCallRefused
from sandbox.protocol import (
    AttachmentInfo,
    BotCallRequest,
    ChatEvent,
    HttpHead,
    HttpRequest,
    Limits,
    MessageAdded,
    RunEnd,
    RunStart,
    Started,
    TextAppended,
    TextReplaced,
)

Bot = Callable[[BotCallRequest], AsyncIterator[fp.PartialResponse]]
HANG_GUARD_S = 60.0  # generous: only a hang should ever reach it
# Small limits keep the hostile tests quick; the spares of a pool follow the latest limits.
QUICK = Limits(timeout_s=10.0, cpu_s=2, memory_mb=64, max_output_chars=10_000, max_bot_calls=5)


async def echo_bot(request: BotCallRequest) -> AsyncIterator[fp.PartialResponse]:
    text = request.messages[-1]["content"] if request.messages else ""
    for word in ("echo:", " ", text):
        yield fp.PartialResponse(text=word)


class TestServices:
    """RunServices over in-process bots and files, recording what the child asked for."""

    __test__ = False  # not a test class, for pytest

    def __init__(
        self,
        bots: dict[str, Bot] | None = None,
        *,
        max_bot_calls: int = 10,
        files: dict[str, bytes] | None = None,
    ) -> None:
        self.bots = {"Echo": echo_bot, **(bots or {})}
        self.max_bot_calls = max_bot_calls
        self.files = dict(files or {})
        self.requests: list[BotCallRequest] = []
        self.finished_calls = 0
        self.uploads: list[tuple[str, bytes]] = []
        self.http_requests: list[HttpRequest] = []

    async def call_bot(self, request: BotCallRequest) -> AsyncIterator[fp.PartialResponse]:
        if len(self.requests) >= self.max_bot_calls:
            raise BotCallLimit(request.bot_name)
        self.requests.append(request)
        bot = self.bots.get(request.bot_name)
        if bot is None:
            raise BotCallRefused(request.bot_name, "no such bot")
        async for part in bot(request):
            yield part
        self.finished_calls += 1

    async def fetch(self, url: str) -> AsyncIterator[bytes]:
        if url not in self.files:
            raise BotCallRefused("", f"cannot fetch {url}")
        yield self.files[url]

    async def http(self, request: HttpRequest) -> AsyncIterator[HttpHead | bytes]:
        """The web as a dict: ``files`` by URL (200), anything else 404."""
        self.http_requests.append(request)
        body = self.files.get(request.url)
        status = 200 if body is not None else 404
        yield HttpHead(0, status, "OK" if body is not None else "Not Found", [])
        yield body if body is not None else b"not found"

    async def upload(
        self, name: str, contents: Spool, content_type: str | None, is_inline: bool
    ) -> AttachmentInfo:
        data = contents.read()
        self.uploads.append((name, data))
        url = f"memory://files/{len(self.uploads)}/{name}"
        self.files[url] = data
        return AttachmentInfo(url, content_type or "application/octet-stream", name)


@dataclass
class Outcome:
    events: list[Started | ChatEvent] = field(default_factory=list)
    end: RunEnd | None = None
    started_s: float | None = None

    @property
    def texts(self) -> list[str]:
        texts: list[str] = []
        for event in self.events:
            if isinstance(event, MessageAdded):
                texts.append(event.text)
            elif isinstance(event, TextAppended):
                texts[event.msg_id] += event.text
            elif isinstance(event, TextReplaced):
                texts[event.msg_id] = event.text
        return texts

    @property
    def text(self) -> str:
        return "\n\n".join(self.texts)

    def describe(self) -> str:
        return f"end={self.end!r} text={self.text[:500]!r}"


async def run(
    pool: SandboxPool,
    source: str,
    *,
    services: Any = None,
    limits: Limits = QUICK,
    query: str | None = "hello",
    bot_name: str = "TestBot",
    **fields: Any,
) -> Outcome:
    """One run to its RunEnd; asserts there is exactly one and that it comes last.
    ``fields`` are more RunStart fields (``mode``, ``users``)."""
    conversation = [{"role": "user", "content": query}] if query is not None else []
    start = RunStart(
        source=source, bot_name=bot_name, conversation=conversation, limits=limits, **fields
    )
    outcome = Outcome()
    began = time.perf_counter()

    async def consume() -> None:
        async for event in pool.run(start, services or TestServices()):
            assert outcome.end is None, "an event came after the RunEnd"
            if isinstance(event, RunEnd):
                outcome.end = event
            else:
                if isinstance(event, Started):
                    outcome.started_s = time.perf_counter() - began
                outcome.events.append(event)

    await asyncio.wait_for(consume(), HANG_GUARD_S)
    assert outcome.end is not None, "the run ended without a RunEnd"
    return outcome


def template_pid(pool: SandboxPool) -> int:
    assert pool._template is not None
    return pool._template.process.pid


def leased_pids(pool: SandboxPool) -> set[int]:
    """Pids of the children running a run now (not the spares)."""
    return {child.pid for child in pool._children.values() if child.leased}


def children_of(pid: int) -> dict[int, str]:
    """pid -> state letter of every process whose parent is ``pid``."""
    children: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as file:
                stat = file.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            children[int(entry)] = fields[0]
    return children


def process_exists(pid: int) -> bool:
    return os.path.exists(f"/proc/{pid}")


async def wait_until(condition: Callable[[], bool], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met within the deadline")
        await asyncio.sleep(0.01)


async def wait_no_zombies(pool: SandboxPool, *, spares: int | None = None) -> None:
    """The template has reaped every child that ended; only spares (and live runs) remain."""
    parent = template_pid(pool)
    await wait_until(lambda: "Z" not in children_of(parent).values())
    if spares is not None:
        await wait_until(lambda: len(children_of(parent)) <= spares)
