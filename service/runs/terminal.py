"""``scriptbots run``: one script, once, in the same sandbox as a Poe query, shown on a
terminal (no server, no database).

Bot calls go to ``--bot-base`` through the same ``UpstreamBots`` and budget as a query's;
attachment URLs are fetched by the same fetcher, and a half-shield script's own HTTP goes
through the same egress (private addresses allowed: the machine is the user's own); the
response is followed with the same ``ResponseText`` as the SSE mapping.
Attachments the script makes stay in memory, under placeholder URLs. Ctrl-C ends the run
(its sandbox too) with status 130 and one line, not a traceback.
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

from sandbox import (
    AttachmentInfo,
    BotCallRequest,
    ChatEvent,
    HttpHead,
    HttpRequest,
    Limits,
    RunEnd,
    RunStart,
    SandboxPool,
    SandboxUnavailable,
    SettingsUpdated,
    Spool,
    Started,
)
from service.runs.attachments import UrlFetcher
from service.runs.botcalls import CallBudget, UpstreamBots
from service.runs.egress import Egress, EgressPolicy
from service.runs.response import (
    Appended,
    AttachmentOut,
    Failed,
    ResponseText,
    Rewritten,
    with_failures,
)
from service.script_header import read_header

_NO_KEY = "none"  # without --access-key; an empty key is not even a valid header
INTERRUPTED = 130  # the shell's status for a command ended by SIGINT


def run_file(path: str, query: str, bot_base: str, access_key: str | None = None) -> int:
    """Run the script in ``path`` once; 0 when it succeeds, 1 on any error (shown on stderr)."""
    try:
        source = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"{path}: cannot read the script: {exc}", file=sys.stderr)
        return 1
    conversation = [{"role": "user", "content": query}]
    start = RunStart(
        source=source,
        bot_name=Path(path).stem,
        conversation=conversation,
        limits=Limits(),
        privacy_shield="half" if read_header(source).privacy_shield == "half" else "full",
    )
    try:
        services = TerminalServices(bot_base, access_key, start.limits)
        end = asyncio.run(_run(start, services, sys.stdout))
    except KeyboardInterrupt:
        print("\ninterrupted: the run was stopped", file=sys.stderr)
        return INTERRUPTED
    except SandboxUnavailable as exc:
        print(f"the sandbox is unavailable: {exc}", file=sys.stderr)
        return 1
    if end.status == "ok":
        return 0
    print(end.error or f"The run ended: {end.status}.", file=sys.stderr)
    return 1


async def _run(start: RunStart, services: TerminalServices, out: TextIO) -> RunEnd:
    pool = SandboxPool(slots=2, spares=0)
    await pool.start()
    terminal = _Terminal(out)
    end = RunEnd("killed", "The run ended without a result.")
    try:
        async for event in pool.run(start, services):
            if isinstance(event, RunEnd):
                end = event
            elif not isinstance(event, Started | SettingsUpdated):  # (settings runs only)
                terminal.show(event)
    finally:
        terminal.close()
        await pool.close()
    return with_failures(end, terminal.failures)


class TerminalServices:
    """RunServices for a terminal: bots at ``bot_base``, attachments kept in memory."""

    def __init__(self, bot_base: str, access_key: str | None, limits: Limits) -> None:
        self.attachments: dict[str, bytes] = {}
        self._numbers = itertools.count(1)
        self._fetcher = UrlFetcher(allow_private=True)
        self._egress = Egress(EgressPolicy(allow_private=True))
        self._bots = UpstreamBots(
            bot_base,
            access_key=access_key or _NO_KEY,
            user_id="local-user",
            conversation_id=f"c-{uuid.uuid4().hex}",
            message_id=f"m-{uuid.uuid4().hex}",
            budget=CallBudget(limits.max_bot_calls),
        )

    def call_bot(self, request: BotCallRequest) -> AsyncIterator[fp.PartialResponse]:
        return self._bots.call_bot(request)

    async def fetch(self, url: str) -> AsyncIterator[bytes]:
        if url in self.attachments:
            yield self.attachments[url]
            return
        async for chunk in self._fetcher.fetch(url):
            yield chunk

    def http(self, request: HttpRequest) -> AsyncIterator[HttpHead | bytes]:
        return self._egress.http(request)

    async def upload(
        self, name: str, contents: Spool, content_type: str | None, is_inline: bool
    ) -> AttachmentInfo:
        number = next(self._numbers)
        url = f"memory://attachments/{number}/{name}"
        self.attachments[url] = contents.read()  # one terminal run, on the user's machine
        return AttachmentInfo(
            url=url,
            content_type=content_type or "application/octet-stream",
            name=name,
            inline_ref=f"attachment{number}" if is_inline else None,
        )


class _Terminal:
    """Streams the response: appends as they come, anything else (an overwrite, a write
    into an earlier message) by printing the whole response again."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._response = ResponseText()
        self._ends_with_newline = True
        self.failures: list[str] = []  # Message.fail texts: the run then exits with status 1

    def show(self, event: ChatEvent) -> None:
        for change in self._response.apply(event):
            if isinstance(change, Appended):
                self._write(change.text)
            elif isinstance(change, Rewritten):
                self._write("\n--- the response was rewritten ---\n" + self._response.render())
            elif isinstance(change, Failed):
                self.failures.append(change.error)
            elif isinstance(change, AttachmentOut):
                info = change.attachment
                print(
                    f"[attachment {info.name} ({info.content_type}): {info.url}]", file=sys.stderr
                )

    def _write(self, text: str) -> None:
        if text:
            self._out.write(text)
            self._out.flush()
            self._ends_with_newline = text.endswith("\n")

    def close(self) -> None:
        if not self._ends_with_newline:
            self._write("\n")
