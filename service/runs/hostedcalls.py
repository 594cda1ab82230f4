"""Hosted scripts as bots for their creator's other scripts (SPEC §8): ``NestedRuns``, the
``HostedBots`` over the database, and a nested run's Poe events turned back into the parts
a bot call yields.

Only the calling script's creator's own scripts are found (issue 11: a script named like a
popular bot must not receive other creators' calls, prompts and access keys). So a called
script runs as its caller's creator's run through the same machinery as a query
(``Orchestrator``): admitted against that creator's quota, recorded with its caller as
parent, sharing the caller's bot-call budget, at most ``MAX_HOSTED_DEPTH`` deep (``BotRouter``
counts the depth), and its traceback, shown to the caller, is the caller's creator's code.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing

import fastapi_poe as fp

from sandbox import AttachmentInfo, BotCallRefused, BotCallRequest
from service.runs.botcalls import BotRouter, HostedBot
from service.runs.botscript import BotScript
from service.runs.events import SseStream

FindBot = Callable[[str], Awaitable[BotScript | None]]
# Runs ``bot`` for ``request`` at the nesting depth of the given router; its Poe events.
RunNested = Callable[[BotScript, BotCallRequest, BotRouter], SseStream]


class NestedRuns:
    """``HostedBots`` of one run: names of scripts hosted here, looked up when called."""

    def __init__(self, find: FindBot, run: RunNested) -> None:
        self._find = find
        self._run = run

    async def find(self, bot_name: str) -> HostedBot | None:
        bot = await self._find(bot_name)
        if bot is None:
            return None

        def call(
            request: BotCallRequest, router: BotRouter
        ) -> AsyncGenerator[fp.PartialResponse, None]:
            return parts_from_events(bot.name, self._run(bot, request, router))

        return call


async def parts_from_events(
    bot_name: str, events: SseStream
) -> AsyncGenerator[fp.PartialResponse, None]:
    """A run's Poe events as a called bot's parts, from their typed values (nothing is
    parsed back from JSON); a failed run raises ``BotCallRefused`` with the text of its
    ``error`` event, after the run has ended."""
    error: str | None = None
    async with aclosing(aiter(events)) as stream:
        async for event in stream:
            value = event.value
            if isinstance(value, AttachmentInfo):
                attachment = fp.Attachment(
                    url=value.url,
                    content_type=value.content_type,
                    name=value.name,
                    inline_ref=value.inline_ref,
                )
                yield fp.PartialResponse(text="", attachment=attachment)
            elif event.event == "text" and value:
                yield fp.PartialResponse(text=value)
            elif event.event == "replace_response":
                yield fp.PartialResponse(text=value or "", is_replace_response=True)
            elif event.event == "error":
                error = value or "the script failed"
    if error is not None:
        raise BotCallRefused(bot_name, error)
