"""A run's events → the Poe server-sent events, exactly as ``fastapi_poe.make_app`` sends them.

SPEC §7: ``meta`` first and at once (Poe wants a first event within 5 s, before the sandbox
has started); appends to the end of the response → ``text``; any other change →
``replace_response`` with the whole response; attachments → ``file``; a failed run →
``error`` (``allow_retry: false``); ``done`` last, whatever happened. Text written in quick
succession is coalesced (never dropped or reordered) so a response stays within Poe's 10k
events: on the leading edge, text that comes after a quiet window goes out at once, and what
follows within the window waits for its end, in one event. The response is capped at
``Limits.max_output_chars``. No I/O here besides reading the source:
the orchestrator drives every run through a ``PoeEventStream`` (its transcript is the run's
record), and ``routes/sse.py`` turns the events into the HTTP answer (the wire format is
there only).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio

from sandbox import AttachmentInfo, ChatEvent, Limits, RunEnd, Started
from service.runs.response import (
    Appended,
    AttachmentOut,
    Failed,
    ResponseText,
    Rewritten,
    with_failures,
)
from service.runs.transcript import Transcript

logger = logging.getLogger(__name__)

RunItem = Started | ChatEvent | RunEnd

MAX_TRANSCRIPT_BYTES = 5 * 1024 * 1024  # SCRIPTBOTS_RUN_MAX_TRANSCRIPT_MB's default
COALESCE_S = 0.03  # a flush at most every 30 ms: 600 s of trickling text stays ≪ 10k events
MAX_EVENTS = 10_000  # Poe's limit per response (SPEC §7)
# Events kept for the end of any stream: last text flush, empty text, error, done.
_RESERVED_EVENTS = 4

NO_RUN_END = "The run ended without a result; the sandbox stopped unexpectedly."
SOURCE_FAILED = "The service failed while running the script."
DISCONNECTED = "The client disconnected before the response ended."
INVALID_EVENT = "The sandbox sent an invalid event; the run was stopped."


@dataclass(frozen=True)
class SseEvent:
    """One Poe event: its name, its JSON data as fastapi_poe serialises it, and ``value``,
    what the data says as a typed value (the text of ``text``, ``replace_response`` and
    ``error``, the ``AttachmentInfo`` of ``file``) for whoever reads the events in process
    (a hosted script called by another, ``hostedcalls.py``). The wire format is
    ``routes/sse.py``'s."""

    event: str
    data: str
    value: str | AttachmentInfo | None = field(default=None, compare=False)

    def record(self) -> dict[str, Any]:
        """The event as a transcript entry of the run record."""
        return {"event": self.event, "data": json.loads(self.data)}


def meta_event(*, refetch_settings: bool = False) -> SseEvent:
    """``refetch_settings``: the bot's settings changed since Poe last fetched them."""
    data = {
        "content_type": "text/markdown",
        "refetch_settings": refetch_settings,
        "linkify": True,
        "suggested_replies": False,
    }
    return SseEvent("meta", json.dumps(data))


def text_event(text: str) -> SseEvent:
    return SseEvent("text", json.dumps({"text": text}), text)


def replace_response_event(text: str) -> SseEvent:
    return SseEvent("replace_response", json.dumps({"text": text}), text)


def file_event(attachment: AttachmentInfo) -> SseEvent:
    data = {
        "url": attachment.url,
        "content_type": attachment.content_type,
        "name": attachment.name,
        "inline_ref": attachment.inline_ref,
    }
    return SseEvent("file", json.dumps(data), attachment)


def error_event(text: str) -> SseEvent:
    # A script's failure is not made better by retrying it (SPEC §7: allow_retry false).
    return SseEvent("error", json.dumps({"allow_retry": False, "text": text}), text)


def done_event() -> SseEvent:
    return SseEvent("done", "{}")


_SANDBOX_LIMIT_SENTENCES = ("The run reached its ", "The response reached its ")


def describe_end(end: RunEnd, limits: Limits) -> str | None:
    """The text of the ``error`` event for how a run ended; None when it succeeded."""
    if end.status == "ok" and end.limit is None:
        return None
    limit = end.limit or ("time" if end.status == "timeout" else None)
    if limit is None:
        if end.error:
            return end.error
        if end.status == "killed":
            return "The script was stopped before it finished."
        return "The script failed."
    message = describe_limit(limit, limits)
    # The sandbox's own sentence for a limit says the same as ours: only other words (a
    # traceback, say) add something.
    if end.error and not end.error.startswith(_SANDBOX_LIMIT_SENTENCES):
        return f"{message}\n\n{end.error}"
    return message


def describe_limit(limit: str, limits: Limits) -> str:
    """A sentence naming the limit reached, with its value (SPEC §7)."""
    sentences = {
        "time": f"The script reached its time limit of {limits.timeout_s:g} seconds.",
        "cpu": f"The script reached its CPU time limit of {limits.cpu_s} seconds.",
        "memory": f"The script reached its memory limit of {limits.memory_mb} MB.",
        "output": f"The response reached its output limit of {limits.max_output_chars} characters.",
        "bot_calls": f"The script reached its limit of {limits.max_bot_calls} bot calls.",
        "threads": f"The script reached its limit of {limits.max_threads} threads.",
        "recursion": "The script reached the recursion limit.",
    }
    return sentences.get(limit, f"The script reached its {limit} limit.")


class SseStream(Protocol):
    """A run's events (a ``PoeEventStream``, a ``Run``), iterated by an async generator
    that their reader closes (``aclosing``) when it stops early."""

    def __aiter__(self) -> AsyncGenerator[SseEvent, None]: ...


class PoeEventStream:
    """Iterate once for the SSE events of one run; afterwards ``outcome``, ``transcript``
    and ``chars_out`` describe it for the run record.

    ``source`` yields the sandbox's output (``Started``, chat events, one final ``RunEnd``).
    It is closed (``aclose``) when the stream ends early, on an output cap or a client that
    went away, which is how the run behind it learns to stop. ``before_done`` is awaited
    just before ``done`` is sent, ``outcome`` and ``chars_out`` final by then (the run's end
    is written there, so that the quota no longer counts it when the client has ``done``).
    """

    def __init__(
        self,
        source: AsyncIterable[RunItem],
        *,
        limits: Limits | None = None,
        max_events: int = MAX_EVENTS,
        coalesce_s: float = COALESCE_S,
        refetch_settings: bool = False,
        max_transcript_bytes: int = MAX_TRANSCRIPT_BYTES,
        before_done: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._source = source
        self._before_done = before_done
        self._meta = meta_event(refetch_settings=refetch_settings)
        self._limits = limits or Limits()
        self._max_events = max_events
        self._coalesce_s = coalesce_s
        self._iterated = False
        self._text = ResponseText()
        self._pending: list[str] = []  # appended text not sent yet (joined once, at flush)
        self._dirty = False  # a rewrite not sent yet: the next flush is a replace_response
        self._flush_at: float | None = None
        self._quiet_at = -math.inf  # until then, text waits (the window of the last flush)
        self._sent_chars = 0
        self._sent_text = False
        self._loop_start = 0.0
        self._failures: list[str] = []  # Message.fail texts, in order, each once
        self.outcome: RunEnd | None = None
        self._transcript = Transcript(max_transcript_bytes)
        self.events_sent = 0
        self.started_after_s: float | None = None  # request → sandbox Started

    @property
    def transcript(self) -> list[dict[str, Any]]:
        """The run's record of what it sent (``transcript.py``: bounded, rewrites merged);
        ``done`` is in it by the time ``before_done`` is awaited."""
        return self._transcript.entries

    @property
    def transcript_bytes(self) -> int:
        return self._transcript.stored_bytes

    def note(self, event: str, data: dict[str, Any]) -> None:
        """Add to the record what the run did besides sending (a script's HTTP request)."""
        self._transcript.add(event, json.dumps(data))

    @property
    def chars_out(self) -> int:
        """Characters of the response the client received."""
        return self._sent_chars

    @property
    def response_text(self) -> str:
        return self._text.render()[: self._limits.max_output_chars]

    def __aiter__(self) -> AsyncGenerator[SseEvent, None]:
        if self._iterated:
            raise RuntimeError("a PoeEventStream can be iterated only once")
        self._iterated = True
        return self._events()

    async def _events(self) -> AsyncGenerator[SseEvent, None]:
        loop = asyncio.get_running_loop()
        self._loop_start = loop.time()
        yield self._sent(self._meta)  # SPEC §7: before anything from the sandbox
        source = aiter(self._source)
        # A reader task feeds a bounded queue, so that everything already waiting is taken
        # without a task or a timer per event, and a flood waits for us instead of piling up.
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=_QUEUE_SIZE)
        reader = asyncio.create_task(_read(source, queue))
        try:
            while self.outcome is None:
                if not queue.empty():
                    out = self._take(queue.get_nowait())
                else:
                    try:
                        async with asyncio.timeout(self._flush_delay(loop)):
                            item = await queue.get()
                    except TimeoutError:
                        out = []
                    else:
                        out = self._take(item)
                if self._flush_at is not None and loop.time() >= self._flush_at:
                    out += self._flush()  # also when a busy source never lets us wait
                for event in out:
                    yield self._sent(event)
            for event in self._finish():
                sent = self._sent(event)  # in the transcript before_done may write
                if event.event == "done" and self._before_done is not None:
                    await self._before_done()  # the run's end is known: tell who needs it
                yield sent
        finally:
            # Shielded: the route's cancel scope must not stop us from ending the run.
            with anyio.move_on_after(10, shield=True):
                await _close(source, reader)
            if self.outcome is None:
                self.outcome = RunEnd(status="killed", error=DISCONNECTED)

    def _flush_delay(self, loop: asyncio.AbstractEventLoop) -> float | None:
        if self._flush_at is None or math.isinf(self._flush_at):
            return None
        return max(0.0, self._flush_at - loop.time())

    def _take(self, item: Any) -> list[SseEvent]:
        if item is _END:
            self.outcome = RunEnd(status="killed", error=NO_RUN_END)
            return []
        if isinstance(item, _SourceFailed):
            if item.error is not None:
                logger.error("run event source failed", exc_info=item.error)
                self.outcome = RunEnd(status="error", error=SOURCE_FAILED)
            else:
                self.outcome = RunEnd(status="killed", error=NO_RUN_END)
            return []
        try:
            return self._apply(item)
        except (TypeError, ValueError):  # not an event of a run, or a message never added
            logger.warning("invalid run event %s", type(item).__name__, exc_info=True)
            self.outcome = RunEnd(status="killed", error=INVALID_EVENT)
            return self._flush()

    def _apply(self, item: RunItem) -> list[SseEvent]:
        if isinstance(item, Started):
            self.started_after_s = asyncio.get_running_loop().time() - self._loop_start
            return []
        if isinstance(item, RunEnd):
            self.outcome = with_failures(item, self._failures)
            return []
        out: list[SseEvent] = []
        changes = self._text.apply(item)
        for change in changes:
            if isinstance(change, Appended):
                if not self._dirty:
                    self._pending.append(change.text)
            elif isinstance(change, Rewritten):
                self._dirty = True
                self._pending.clear()
            elif isinstance(change, Failed):
                if change.error not in self._failures:
                    self._failures.append(change.error)
            elif isinstance(change, AttachmentOut):
                # A flush and the file; past the event budget the file is left out (text
                # never is: it waits for the final flush).
                if not _is_web_url(change.attachment.url):
                    logger.warning("file event dropped: not an http(s) URL")
                elif self.events_sent + len(out) + 2 <= self._max_events - _RESERVED_EVENTS:
                    out += self._flush()  # text and files in the order they were made
                    out.append(file_event(change.attachment))
                else:
                    logger.warning("file event dropped: response at its event limit")
        if self._text.length > self._limits.max_output_chars:
            out += self._flush()
            self.outcome = RunEnd(
                status="killed",
                error=describe_limit("output", self._limits),
                limit="output",
            )
        elif (self._pending or self._dirty) and self._flush_at is None:
            if asyncio.get_running_loop().time() >= self._quiet_at:
                out += self._flush()  # the leading edge: nothing went out for a window
            else:
                self._flush_at = self._quiet_at
        return out

    def _window(self) -> float:
        """How long text may wait to be merged: longer as the response uses up its events,
        and held until the end once only the reserved ones are left."""
        spare = self._max_events - _RESERVED_EVENTS - self.events_sent
        if spare <= 1:
            return math.inf
        step = max(self._max_events // 5, 1)
        return self._coalesce_s * (1 + self.events_sent // step)

    def _flush(self) -> list[SseEvent]:
        cap = self._limits.max_output_chars
        event = None
        if self._dirty:
            text = self._text.render()[:cap]
            self._sent_chars = len(text)
            event = replace_response_event(text)
        elif self._pending:
            text = "".join(self._pending)[: max(cap - self._sent_chars, 0)]
            self._sent_chars += len(text)
            event = text_event(text) if text else None
        self._pending, self._dirty, self._flush_at = [], False, None
        if event is None:
            return []
        self._sent_text = True
        self._quiet_at = asyncio.get_running_loop().time() + self._window()
        return [event]

    def _finish(self) -> list[SseEvent]:
        assert self.outcome is not None
        out = self._flush()
        error = describe_end(self.outcome, self._limits)
        if error is not None:
            out.append(error_event(error))
        elif not self._sent_text:
            # fastapi_poe's client reports a response without any text as a protocol error.
            out.append(text_event(""))
        return [*out, done_event()]

    def _sent(self, event: SseEvent) -> SseEvent:
        self.events_sent += 1
        self._transcript.add(event.event, event.data)
        return event


def _is_web_url(url: str) -> bool:
    # Issue 11: a file event links the response to its URL; only http(s) ever leaves.
    return url.startswith(("https://", "http://"))


_END = object()
_QUEUE_SIZE = 256


@dataclass(frozen=True)
class _SourceFailed:
    error: BaseException | None  # None: the source was cancelled from inside


async def _read(source: AsyncIterator[RunItem], queue: asyncio.Queue[Any]) -> None:
    try:
        async for item in source:
            await queue.put(item)
        await queue.put(_END)
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise  # we are closing the stream
        await queue.put(_SourceFailed(None))
    except Exception as exc:  # the supervisor edge: whatever broke, the stream still ends
        await queue.put(_SourceFailed(exc))


async def _close(source: AsyncIterator[RunItem], reader: asyncio.Task[None]) -> None:
    if not reader.done():
        reader.cancel()
        await asyncio.wait({reader})
    aclose = getattr(source, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except Exception:
            logger.exception("closing the run event source failed")
