"""Bot calls of one query: a hosted script runs here directly, any other bot goes upstream.

SPEC §8: every call spends one unit of the query's budget (``RUN_MAX_BOT_CALLS``, shared by
nested hosted scripts, counted here and never by the child); a hosted script is called at
most 3 deep; other names go to ``POE_API_BASE`` with ``fastapi_poe.stream_request``, carrying
the query's access key, user and conversation ids. Failures reach the script as
``BotCallRefused`` with the bot's own message. The tool loop is the script's (``poe.call``
runs it in the sandbox): tools, tool calls and tool results travel in the request, and tool
call deltas come back as ``PartialResponse.tool_calls``; nothing here executes a tool.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable
from contextlib import AbstractContextManager, aclosing, nullcontext
from typing import Any, Protocol

import fastapi_poe as fp
import httpx
from pydantic import ValidationError

from sandbox import BotCallLimit, BotCallRefused, BotCallRequest, ChatEvent, RunEnd, Started
from service.runs.outgoing import BOT_CALL_TIMEOUT_S, bot_call_client
from service.runs.response import (
    Appended,
    AttachmentOut,
    Failed,
    ResponseText,
    Rewritten,
    with_failures,
)

logger = logging.getLogger(__name__)

MAX_HOSTED_DEPTH = 3
# Poe bot names and our script names; anything else could rewrite the upstream URL.
_BOT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class CallBudget:
    """The bot calls one query may still make. Shared by every run of the query (nested
    hosted scripts included) and by ``poe.parallel`` threads, hence the lock."""

    def __init__(self, max_calls: int) -> None:
        self.max_calls = max_calls
        self._used = 0
        self._lock = threading.Lock()

    @property
    def used(self) -> int:
        return self._used

    def spend(self, bot_name: str) -> None:
        """Take one call, or raise ``BotCallLimit`` when none is left."""
        with self._lock:
            if self._used >= self.max_calls:
                raise BotCallLimit(bot_name)
            self._used += 1


def check_bot_name(name: str) -> str:
    """The name without Poe's leading ``@``; ``BotCallRefused`` when it is not a bot name."""
    bare = name.removeprefix("@")
    if not _BOT_NAME.fullmatch(bare):
        raise BotCallRefused(name, f"{name!r} is not a valid bot name")
    return bare


def build_query(
    request: BotCallRequest, *, user_id: str, conversation_id: str, message_id: str
) -> fp.QueryRequest:
    """The ``fp.QueryRequest`` of one call; ``BotCallRefused`` when the parts are malformed.
    The access key travels only in the Authorization header, never in the body."""
    try:
        return fp.QueryRequest(
            version=fp.client.PROTOCOL_VERSION,
            type="query",
            query=[fp.ProtocolMessage.model_validate(m) for m in request.messages],
            user_id=user_id,
            conversation_id=conversation_id,
            message_id=message_id,
            temperature=request.temperature,
            adopt_current_bot_name=request.adopt_current_bot_name,
            tools=_models(fp.ToolDefinition, request.tools),
            tool_calls=_models(fp.ToolCallDefinition, request.tool_calls),
            tool_results=_models(fp.ToolResultDefinition, request.tool_results),
        )
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        raise BotCallRefused(
            request.bot_name, f"malformed bot call ({where}: {first['msg']})"
        ) from None


def _models(model: Any, items: list[dict[str, Any]] | None) -> list[Any] | None:
    return None if items is None else [model.model_validate(item) for item in items]


class UpstreamBots:
    """Calls to bots on Poe (or any Poe-protocol server at ``base_url``) for one query.

    ``session``: the process's shared client (``outgoing.bot_call_client``), whose timeout
    applies; without one, each call makes a client of its own with ``timeout_s``."""

    def __init__(
        self,
        base_url: str,
        *,
        access_key: str | None,
        user_id: str,
        conversation_id: str,
        message_id: str,
        budget: CallBudget,
        timeout_s: float = BOT_CALL_TIMEOUT_S,
        session: httpx.AsyncClient | None = None,
    ) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.budget = budget
        self._access_key = access_key
        self._ids = {
            "user_id": user_id,
            "conversation_id": conversation_id,
            "message_id": message_id,
        }
        self._session = session
        self._timeout_s = timeout_s
        if session is not None and session.timeout.read is not None:
            self._timeout_s = session.timeout.read  # what the failure message names

    async def call_bot(
        self, request: BotCallRequest, headers: dict[str, str] | None = None
    ) -> AsyncGenerator[fp.PartialResponse, None]:
        """The called bot's parts as they stream; spends one unit of the budget first.
        The bot's ``meta`` event is not a part of its answer: it is left out. ``headers``
        go with the request (a trace's ``traceparent``)."""
        name = check_bot_name(request.bot_name)
        if not self._access_key:
            raise BotCallRefused(
                name, "calling bots on Poe needs a Poe access key, and this run has none"
            )
        self.budget.spend(name)
        query = build_query(request, **self._ids)
        async with contextlib.AsyncExitStack() as stack:
            session = self._session
            if session is None:
                session = await stack.enter_async_context(bot_call_client(self._timeout_s))
            parts = fp.stream_request(
                query,
                name,
                self._access_key,  # in this request's Authorization header only
                # With tools and without tool_executables, fastapi_poe turns the bot's
                # OpenAI-style `json` chunks into PartialResponse.tool_calls deltas and runs
                # no tool itself; tool_calls and tool_results ride in the query above.
                tools=query.tools,
                session=session,
                on_error=_log_attempt,
                # One call is one request: a retry after partial output would repeat it.
                num_tries=1,
                base_url=self.base_url,
                extra_headers=headers or None,
            )
            try:
                async with aclosing(parts):
                    async for part in parts:
                        if not isinstance(part, fp.MetaResponse):
                            yield part
            except (fp.BotError, httpx.HTTPError, LookupError, TypeError, ValueError) as exc:
                raise BotCallRefused(name, _failure_message(exc, self._timeout_s)) from exc


def _log_attempt(exc: Exception, message: str) -> None:
    logger.debug("bot call attempt failed: %s (%s)", message, type(exc).__name__)


def _failure_message(exc: Exception, timeout_s: float) -> str:
    """What the script sees: the bot's own error text when it sent one."""
    cause = exc.__cause__ if isinstance(exc, fp.BotError) and exc.__cause__ else exc
    if isinstance(cause, httpx.HTTPStatusError):
        status = cause.response.status_code
        reasons = {401: "it refused the access key", 403: "it refused the access key"}
        reason = reasons.get(status, "no such bot" if status == 404 else "")
        return f"the bot answered HTTP {status}" + (f" ({reason})" if reason else "")
    if isinstance(cause, httpx.TimeoutException):
        return f"the bot did not answer within {timeout_s:g} seconds"
    if isinstance(cause, httpx.ConnectError):
        return "could not connect to the bot"
    if isinstance(cause, httpx.HTTPError):
        return f"the connection to the bot failed ({type(cause).__name__})"
    if isinstance(exc, fp.BotError) and exc.args:
        return _error_event_text(str(exc.args[0]))
    return f"the bot sent a malformed response ({type(exc).__name__})"


def _error_event_text(raw: str) -> str:
    # fastapi_poe raises BotError with the `error` event's JSON data as its message.
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        return raw
    if isinstance(data, dict):
        text = data.get("text")
        return text if isinstance(text, str) and text else "the bot failed without a message"
    return raw


# -- hosted scripts ---------------------------------------------------------------------

HostedBot = Callable[[BotCallRequest, "BotRouter"], AsyncGenerator[fp.PartialResponse, None]]


class HostedBots(Protocol):
    """Scripts hosted here, by bot name; the orchestrator supplies the implementation.

    ``find`` answers None for a name that is not a hosted script. The returned callable runs
    the script for ``request`` with ``nested`` as that run's bot calls (one level deeper,
    the same budget) and yields its response as parts (``parts_from_run`` does that from
    the run's events)."""

    async def find(self, bot_name: str) -> HostedBot | None: ...


# (kind, outcome): "hosted" or "upstream"; "ok", "refused", "limit" or "cancelled".
CallCounter = Callable[[str, str], None]
# (kind, bot name) → a context around the call yielding the headers it carries (a trace's).
CallTracer = Callable[[str, str], AbstractContextManager[dict[str, str]]]


class BotRouter:
    """The bot-call half of ``RunServices`` for one run at some nesting depth."""

    def __init__(
        self,
        upstream: UpstreamBots,
        hosted: HostedBots | None = None,
        *,
        depth: int = 0,
        max_depth: int = MAX_HOSTED_DEPTH,
        count: CallCounter | None = None,
        trace: CallTracer | None = None,
    ) -> None:
        self.upstream = upstream
        self.hosted = hosted
        self.depth = depth
        self.max_depth = max_depth
        self.count = count
        self.trace = trace

    @property
    def budget(self) -> CallBudget:
        return self.upstream.budget

    def nested(self) -> BotRouter:
        """The router of a hosted script called from this run."""
        return BotRouter(
            self.upstream,
            self.hosted,
            depth=self.depth + 1,
            max_depth=self.max_depth,
            count=self.count,
            trace=self.trace,
        )

    async def call_bot(self, request: BotCallRequest) -> AsyncIterator[fp.PartialResponse]:
        name = check_bot_name(request.bot_name)
        bot = await self.hosted.find(name) if self.hosted is not None else None
        kind = "upstream" if bot is None else "hosted"
        traced = self.trace(kind, name) if self.trace is not None else nullcontext({})
        outcome = "cancelled"  # the script stopped reading, or its run ended meanwhile
        try:
            with traced as headers:
                if bot is None:
                    parts = self.upstream.call_bot(request, headers)
                else:
                    if self.depth + 1 > self.max_depth:
                        raise BotCallRefused(
                            name,
                            f"hosted scripts may call each other at most {self.max_depth} "
                            "levels deep",
                        )
                    self.budget.spend(name)
                    parts = bot(request, self.nested())
                async with aclosing(parts):
                    async for part in parts:
                        yield part
            outcome = "ok"
        except BotCallRefused as exc:
            outcome = "limit" if isinstance(exc, BotCallLimit) else "refused"
            raise
        finally:
            if self.count is not None:
                self.count(kind, outcome)


async def parts_from_run(
    bot_name: str, events: AsyncIterable[Started | ChatEvent | RunEnd]
) -> AsyncIterator[fp.PartialResponse]:
    """A hosted script's run seen as a called bot: text deltas, ``is_replace_response``
    parts for rewrites, attachments; a failed run raises ``BotCallRefused`` with its error
    (a failed message too, as a bot's ``error`` event would: ``Message.fail``)."""
    text = ResponseText()
    failures: list[str] = []
    async for event in events:
        if isinstance(event, Started):
            continue
        if isinstance(event, RunEnd):
            event = with_failures(event, failures)
            if event.status != "ok":
                detail = event.error or (
                    f"it reached its {event.limit} limit" if event.limit else event.status
                )
                raise BotCallRefused(bot_name, detail)
            return
        try:
            changes = text.apply(event)
        except (TypeError, ValueError):
            raise BotCallRefused(bot_name, "the script's run sent an invalid event") from None
        for change in changes:
            if isinstance(change, Appended):
                yield fp.PartialResponse(text=change.text)
            elif isinstance(change, Rewritten):
                yield fp.PartialResponse(text=text.render(), is_replace_response=True)
            elif isinstance(change, Failed):
                failures.append(change.error)
            elif isinstance(change, AttachmentOut):
                info = change.attachment
                attachment = fp.Attachment(
                    url=info.url,
                    content_type=info.content_type,
                    name=info.name,
                    inline_ref=info.inline_ref,
                )
                yield fp.PartialResponse(text="", attachment=attachment)
    raise BotCallRefused(bot_name, "the script stopped without a result")
