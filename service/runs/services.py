"""``RunServices`` for one run: its bot calls, attachment fetches and uploads, and a
half-shield script's own HTTP, composed from the parts in ``botcalls.py``,
``attachments.py`` and ``egress.py``; and the run's share of the query's bot-call budget.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import TypeVar

import fastapi_poe as fp

from sandbox import AttachmentInfo, BotCallRequest, HttpHead, HttpRefused, HttpRequest, Spool
from service.runs.attachments import AttachmentError, AttachmentLimit, CappedUploader, UrlFetcher
from service.runs.botcalls import BotRouter, CallBudget
from service.runs.egress import Egress

T = TypeVar("T")


class RunCalls(CallBudget):
    """The bot calls of one run, spent from the budget of the whole query (SPEC §8: nested
    hosted scripts share it), and counted apart for this run's record."""

    def __init__(self, query_budget: CallBudget) -> None:
        super().__init__(query_budget.max_calls)
        self.query_budget = query_budget

    @classmethod
    def for_query(cls, max_calls: int) -> RunCalls:
        return cls(CallBudget(max_calls))

    def spend(self, bot_name: str) -> None:
        self.query_budget.spend(bot_name)  # raises BotCallLimit when the query has none left
        super().spend(bot_name)  # cannot fail: this run's calls are among the query's


class ScriptServices:
    """What the sandbox host may ask of the service during one run (``RunServices``).
    ``count(kind, outcome)`` hears of each attachment fetch and upload, and of each HTTP
    request of the script's own (kind ``network``) (``Metrics.egress``)."""

    def __init__(
        self,
        router: BotRouter,
        fetcher: UrlFetcher,
        uploader: CappedUploader,
        egress: Egress,
        *,
        count: Callable[[str, str], None] | None = None,
    ) -> None:
        self.egress = egress
        self.router = router
        self.fetcher = fetcher
        self.uploader = uploader
        self.count = count

    def call_bot(self, request: BotCallRequest) -> AsyncIterator[fp.PartialResponse]:
        return self.router.call_bot(request)

    async def http(self, request: HttpRequest) -> AsyncIterator[HttpHead | bytes]:
        outcome = "cancelled"
        try:
            async with aclosing(self.egress.http(request)) as parts:
                async for part in parts:
                    yield part
            outcome = "ok"
        except HttpRefused as exc:
            outcome = exc.failure if exc.failure in ("limit", "refused") else "failed"
            raise
        finally:
            if self.count is not None:
                self.count("network", outcome)

    async def fetch(self, url: str) -> AsyncIterator[bytes]:
        outcome = "cancelled"
        try:
            async with aclosing(self.fetcher.fetch(url)) as chunks:
                async for chunk in chunks:
                    yield chunk
            outcome = "ok"
        except AttachmentLimit:
            outcome = "limit"
            raise
        except AttachmentError:
            outcome = "failed"
            raise
        finally:
            if self.count is not None:
                self.count("fetch", outcome)

    async def upload(
        self, name: str, contents: Spool, content_type: str | None, is_inline: bool
    ) -> AttachmentInfo:
        return await self._counted(
            "upload", self.uploader.upload(name, contents, content_type, is_inline)
        )

    async def _counted(self, kind: str, request: Awaitable[T]) -> T:
        outcome = "cancelled"
        try:
            result = await request
            outcome = "ok"
            return result
        except AttachmentLimit:
            outcome = "limit"
            raise
        except AttachmentError:
            outcome = "failed"
            raise
        finally:
            if self.count is not None:
                self.count(kind, outcome)
