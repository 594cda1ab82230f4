"""``scriptbots run FILE.py`` and ``scriptbots check-sandbox``: the sandbox without a server.

A run here goes through the same SandboxPool, template and isolation as a query to the
service; only the RunServices differ: bots are called at ``--bot-base`` with
``fastapi_poe.stream_request`` (no access key), attachments stay in this process's memory.
Imports nothing from service/.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TextIO

import fastapi_poe as fp
import httpx

from sandbox.errors import BotCallLimit, BotCallRefused, SandboxUnavailable
from sandbox.host import SandboxPool
from sandbox.protocol import (
    AttachmentAdded,
    AttachmentInfo,
    BotCallRequest,
    ChatEvent,
    Limits,
    MessageAdded,
    RunEnd,
    RunStart,
    Started,
    TextAppended,
    TextReplaced,
)

MAX_FETCH_BYTES = 50 * 1024 * 1024  # SPEC §8
_NO_KEY = "none"  # a local run holds no access key; an empty one is not even a valid header


def run_file(path: str, query: str | None, bot_base: str | None) -> int:
    """Run the script in ``path`` once; 0 when it succeeds, 1 on any error (shown on stderr)."""
    try:
        source = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"{path}: cannot read the script: {exc}", file=sys.stderr)
        return 1
    conversation = [{"role": "user", "content": query}] if query is not None else []
    start = RunStart(
        source=source, bot_name=Path(path).stem, conversation=conversation, limits=Limits()
    )
    try:
        end = asyncio.run(_run(start, LocalServices(bot_base, start.limits), sys.stdout))
    except SandboxUnavailable as exc:
        print(f"the sandbox is unavailable: {exc}", file=sys.stderr)
        return 1
    if end.status == "ok":
        return 0
    print(end.error or f"The run ended: {end.status}.", file=sys.stderr)
    return 1


def check_sandbox() -> int:
    """Print which protections this machine gives a run; 0 if all are active, else 1."""

    async def inspect() -> int:
        pool = SandboxPool(slots=1, spares=0)
        try:
            await pool.start()
        except SandboxUnavailable as exc:
            print(f"the sandbox template does not start: {exc}")
            return 1
        try:
            status = pool.status()
        finally:
            await pool.close()
        print(status.table())
        return 0 if status.complete else 1

    return asyncio.run(inspect())


async def _run(start: RunStart, services: LocalServices, out: TextIO) -> RunEnd:
    pool = SandboxPool(slots=2, spares=0)
    await pool.start()
    terminal = _Terminal(out)
    end = RunEnd("killed", "The run ended without a result.")
    try:
        async for event in pool.run(start, services):
            if isinstance(event, RunEnd):
                end = event
            elif not isinstance(event, Started):
                terminal.show(event)
    finally:
        terminal.close()
        await pool.close()
    return end


class LocalServices:
    """RunServices for a terminal: bots at ``bot_base``, attachments kept in memory."""

    def __init__(self, bot_base: str | None, limits: Limits) -> None:
        self.bot_base = bot_base
        self.max_bot_calls = limits.max_bot_calls
        self.calls = 0
        self.attachments: dict[str, bytes] = {}
        self._numbers = itertools.count(1)

    async def call_bot(self, request: BotCallRequest) -> AsyncIterator[fp.PartialResponse]:
        if self.bot_base is None:
            raise BotCallRefused(request.bot_name, "no --bot-base was given to call bots at")
        if self.calls >= self.max_bot_calls:
            raise BotCallLimit(request.bot_name)
        self.calls += 1
        query = fp.QueryRequest(
            version=fp.client.PROTOCOL_VERSION,
            type="query",
            query=[fp.ProtocolMessage.model_validate(m) for m in request.messages],
            user_id="local-user",
            conversation_id=f"c-{uuid.uuid4().hex}",
            message_id=f"m-{uuid.uuid4().hex}",
            temperature=request.temperature,
            adopt_current_bot_name=request.adopt_current_bot_name,
            tools=_models(fp.ToolDefinition, request.tools),
            tool_calls=_models(fp.ToolCallDefinition, request.tool_calls),
            tool_results=_models(fp.ToolResultDefinition, request.tool_results),
        )
        try:
            async for part in fp.stream_request(
                query,
                request.bot_name,
                _NO_KEY,
                base_url=self.bot_base,
                num_tries=1,
                on_error=_raise,
            ):
                yield part
        except BotCallRefused:
            raise
        except Exception as exc:  # the bot or the network: the script sees the message
            raise BotCallRefused(request.bot_name, str(exc) or type(exc).__name__) from exc

    async def fetch(self, url: str) -> bytes:
        if url in self.attachments:
            return self.attachments[url]
        if not url.startswith(("http://", "https://")):
            raise BotCallRefused("", f"cannot fetch {url}: only http and https URLs")
        try:
            async with httpx.AsyncClient(timeout=30) as client, client.stream("GET", url) as r:
                r.raise_for_status()
                body = bytearray()
                async for chunk in r.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_FETCH_BYTES:
                        raise BotCallRefused("", f"{url} is larger than 50 MB")
                return bytes(body)
        except httpx.HTTPError as exc:
            raise BotCallRefused("", f"cannot fetch {url}: {exc}") from exc

    async def upload(
        self, name: str, contents: bytes, content_type: str | None, is_inline: bool
    ) -> AttachmentInfo:
        number = next(self._numbers)
        url = f"memory://attachments/{number}/{name}"
        self.attachments[url] = contents
        return AttachmentInfo(
            url=url,
            content_type=content_type or "application/octet-stream",
            name=name,
            inline_ref=f"attachment{number}" if is_inline else None,
        )


class _Terminal:
    """Streams the response: appends to the last message as they come, anything else (an
    overwrite, a write into an earlier message) by printing the whole response again."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._texts: list[str] = []
        self._written = ""

    def show(self, event: ChatEvent) -> None:
        if isinstance(event, MessageAdded):
            self._texts.append(event.text)
            for attachment in event.attachments:
                self._note(attachment)
        elif isinstance(event, TextAppended):
            self._texts[event.msg_id] += event.text
        elif isinstance(event, TextReplaced):
            self._texts[event.msg_id] = event.text
        elif isinstance(event, AttachmentAdded):
            self._note(event.attachment)
        self._render()

    def _render(self) -> None:
        response = "\n\n".join(self._texts)
        if response.startswith(self._written):
            self._out.write(response[len(self._written) :])
        else:
            self._out.write("\n--- the response was rewritten ---\n" + response)
        self._written = response
        self._out.flush()

    def _note(self, attachment: AttachmentInfo) -> None:
        print(
            f"[attachment {attachment.name} ({attachment.content_type}): {attachment.url}]",
            file=sys.stderr,
        )

    def close(self) -> None:
        if self._written and not self._written.endswith("\n"):
            self._out.write("\n")
            self._out.flush()


def _models(model: type, items: list[dict] | None) -> list | None:
    return None if items is None else [model.model_validate(item) for item in items]  # type: ignore[attr-defined]


def _raise(exc: Exception, message: str) -> None:
    raise BotCallRefused("", f"{message}: {exc}") from exc
