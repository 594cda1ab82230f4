"""One run, seen from the host: the child's messages in, RunServices answers out, one RunEnd.

The child is untrusted. Everything it sends is decoded by ``protocol.decode`` and checked
here: message order and ids, the output cap (counted as the runtime counts it), the number
of requests in flight. Any breach ends the run and kills the child. Attachments pass on only
with a URL the host itself handed to this run (an upload's, a bot call's, the query's):
a script cannot make the response link to whatever it likes (issue 11). The wall-clock deadline
is a timer of the event loop, independent of whether anyone is reading the events.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import signal
import typing
from collections import deque
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any

import fastapi_poe as fp

from sandbox.channel import AsyncChannel, ChannelClosed
from sandbox.errors import BotCallLimit, BotCallRefused
from sandbox.http_relay import HttpRelay
from sandbox.protocol import (
    AttachmentAdded,
    AttachmentInfo,
    BotCallCancel,
    BotCallEnd,
    BotCallPart,
    BotCallStart,
    ChatEvent,
    FetchChunk,
    FetchRequest,
    FetchResult,
    HttpCancel,
    HttpChunk,
    HttpEnd,
    HttpHead,
    HttpRead,
    HttpRequest,
    Message,
    MessageAdded,
    MessageFailed,
    MessageFinished,
    ProtocolError,
    RunEnd,
    RunStart,
    SettingsUpdated,
    Started,
    TextAppended,
    TextReplaced,
    UploadChunk,
    UploadRequest,
    UploadResult,
    is_limit_name,
)
from sandbox.services import RunServices
from sandbox.transfers import Transfers

logger = logging.getLogger(__name__)

MAX_IN_FLIGHT = 64  # bot calls, fetches and uploads of one run at once (poe.parallel: 21)
# Fetches and uploads of one run served at once (each streams: transfers.py); the others
# wait their turn, an upload before its chunks are read.
MAX_TRANSFERS_IN_FLIGHT = 4
MAX_ERROR_CHARS = 20_000
MAX_HTTP_IN_FLIGHT = 256  # a half-shield script's requests at once (http_relay.py runs 32)
_HTTP_CROWD = f"a run may have at most {MAX_HTTP_IN_FLIGHT} HTTP requests open at once"
MISBEHAVED = "The sandbox process misbehaved and was stopped."
_BUFFERED_EVENTS = 256  # then the child waits: a slow consumer slows the script down
_EXIT_REPORT_WAIT_S = 5.0
_SEPARATOR_CHARS = 2  # the host joins message texts with a blank line (SPEC §7)
MAX_SETTINGS_CHARS = 1024 * 1024  # SettingsUpdated, as JSON: far more than Poe's own limits
Item = Started | ChatEvent | SettingsUpdated | RunEnd


@dataclass(frozen=True)
class ChildExit:
    """How the child process ended, as its template saw it."""

    code: int | None
    signal: int | None
    cpu_s: float
    oom: bool


class ChildHandle(typing.Protocol):
    """What the supervisor needs of a child the pool leased to this run."""

    exited: asyncio.Future[ChildExit | None]

    @property
    def channel(self) -> AsyncChannel: ...

    def kill(self) -> None: ...


class _Violation(Exception):
    """The child broke the protocol; the run ends and the child is killed."""


class RunSupervisor:
    def __init__(
        self,
        child: ChildHandle,
        start: RunStart,
        services: RunServices,
        describe_failure: Callable[[ChildExit], str | None],
        stop: asyncio.Future[RunEnd] | None = None,
    ) -> None:
        self._child = child
        self._stop = stop  # resolved by the host to end the run early (a server shutting down)
        self._start = start
        self._services = services
        self._describe_failure = describe_failure
        self._limits = start.limits
        self._events: deque[Started | ChatEvent | SettingsUpdated] = deque()
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()
        self._final: RunEnd | None = None
        self._tasks: dict[tuple[str, int], asyncio.Task[None]] = {}
        self._transfer_turns = asyncio.Semaphore(MAX_TRANSFERS_IN_FLIGHT)
        self._transfers = Transfers(
            services, self._reply, lambda: self._final is not None, self._stored
        )
        self._lengths: list[int] = []
        self._total_chars = 0
        self._started = False
        self._urls = _conversation_urls(start.conversation)  # attachment URLs it may show
        self._http = HttpRelay(services, self._reply, lambda: self._final is not None)

    async def events(self) -> AsyncGenerator[Item, None]:
        loop = asyncio.get_running_loop()
        reader = loop.create_task(self._read())
        deadline = loop.call_later(self._limits.timeout_s, self._on_deadline)
        if self._stop is not None:
            self._stop.add_done_callback(self._on_stop)
        try:
            while True:
                while self._events:
                    event = self._events.popleft()
                    self._writable.set()
                    yield event
                if self._final is not None:
                    yield self._final
                    return
                self._readable.clear()
                await self._readable.wait()
        finally:
            deadline.cancel()
            if self._stop is not None:
                self._stop.remove_done_callback(self._on_stop)
            reader.cancel()
            for task in self._tasks.values():
                task.cancel()
            self._transfers.close()
            self._child.kill()  # done or not, nothing of the run survives it
            self._child.channel.close()

    # -- ending -------------------------------------------------------------------------

    def _end(self, end: RunEnd, *, kill: bool) -> None:
        if self._final is not None:
            return
        self._final = end
        if kill:
            self._child.kill()
        self._readable.set()

    def _on_stop(self, stop: asyncio.Future[RunEnd]) -> None:
        if not stop.cancelled():
            self._end(stop.result(), kill=True)

    def _on_deadline(self) -> None:
        self._end(
            RunEnd(
                "timeout", f"The run reached its time limit ({self._limits.timeout_s:g} s).", "time"
            ),
            kill=True,
        )

    async def _after_death(self) -> None:
        """The channel closed without a RunEnd: ask the template how the child died."""
        try:
            info = await asyncio.wait_for(asyncio.shield(self._child.exited), _EXIT_REPORT_WAIT_S)
        except TimeoutError:
            self._child.kill()
            info = None
        self._end(self._classify(info), kill=False)

    def _classify(self, info: ChildExit | None) -> RunEnd:
        limits = self._limits
        if info is not None and info.oom:
            return RunEnd(
                "killed", f"The run reached its memory limit ({limits.memory_mb} MB).", "memory"
            )
        cpu_spent = info is not None and info.cpu_s >= limits.cpu_s - 0.05
        if cpu_spent and info is not None and info.signal in (signal.SIGKILL, signal.SIGXCPU):
            return RunEnd(
                "killed", f"The run reached its CPU time limit ({limits.cpu_s} s).", "cpu"
            )
        problem = self._describe_failure(info) if info is not None else None
        if problem is not None:
            logger.warning("sandbox child failed: %s", problem)
            return RunEnd("killed", "The sandbox could not start this run.")
        logger.warning("sandbox child ended without a RunEnd: %s", info)
        return RunEnd("killed", "The script's process ended before the run finished.")

    # -- reading the child --------------------------------------------------------------

    async def _read(self) -> None:
        channel = self._child.channel
        try:
            await channel.send(self._start)
            while self._final is None:
                message = await channel.read()
                await self._dispatch(message)
        except ChannelClosed:
            await self._after_death()
        except (ProtocolError, _Violation) as exc:
            logger.warning("sandbox child broke the protocol: %s", exc)
            self._end(RunEnd("killed", MISBEHAVED), kill=True)
        except Exception:  # the per-run supervisor edge: whatever a frame broke, stop the child
            logger.exception("reading the sandbox child failed")
            self._end(RunEnd("killed", MISBEHAVED), kill=True)

    async def _dispatch(self, message: Message) -> None:
        if isinstance(message, Started):
            if self._started:
                raise _Violation("Started twice")
            self._started = True
            await self._push(message)
            return
        if not self._started:
            raise _Violation(f"{type(message).__name__} before Started")
        if isinstance(message, AttachmentAdded) and not self._known(message.attachment):
            if not 0 <= message.msg_id < len(self._lengths):
                raise _Violation("AttachmentAdded for an unknown message")
            return
        if isinstance(message, MessageAdded) and message.attachments:
            known = [a for a in message.attachments if self._known(a)]
            if len(known) < len(message.attachments):
                message = dataclasses.replace(message, attachments=known)
        if isinstance(
            message,
            MessageAdded | TextAppended | TextReplaced | AttachmentAdded | MessageFinished,
        ):
            if self._count_output(message):
                await self._push(message)
        elif isinstance(message, MessageFailed):
            if not 0 <= message.msg_id < len(self._lengths):
                raise _Violation("MessageFailed for an unknown message")
            await self._push(MessageFailed(message.msg_id, _bounded(message.error)))
        elif isinstance(message, SettingsUpdated):
            if self._start.mode != "settings":
                raise _Violation("SettingsUpdated in a query run")
            if len(json.dumps(message.settings)) > MAX_SETTINGS_CHARS:
                raise _Violation("SettingsUpdated too large")
            await self._push(message)
        elif isinstance(message, BotCallStart):
            self._spawn(("call", message.call_id), self._call_bot(message))
        elif isinstance(message, BotCallCancel):
            task = self._tasks.get(("call", message.call_id))
            if task is not None:
                task.cancel(msg="cancelled by the script")
        elif isinstance(message, FetchRequest):
            self._spawn(("request", message.request_id), self._fetch_in_turn(message))
        elif isinstance(message, UploadRequest):
            # Its chunks stay unread (the child waits) until the upload may start.
            await self._transfer_turns.acquire()
            try:
                complete = self._transfers.begin_upload(message)
            except BaseException:
                self._transfer_turns.release()
                raise
            if complete:
                self._spawn_upload(message)
        elif isinstance(message, UploadChunk):
            request = self._transfers.add_chunk(message)
            if request is not None:
                self._spawn_upload(request)
        elif isinstance(message, HttpRequest):
            if self._start.privacy_shield != "half":
                raise _Violation("HttpRequest in a full-shield run")
            if sum(1 for k in self._tasks if k[0] == "http") >= MAX_HTTP_IN_FLIGHT:
                await self._reply(HttpEnd(message.request_id, _HTTP_CROWD, "limit"))
                return
            self._spawn(("http", message.request_id), self._http.serve(message))
        elif isinstance(message, HttpRead):
            self._http.read(message.request_id)
        elif isinstance(message, HttpCancel):
            task = self._tasks.get(("http", message.request_id))
            if task is not None:
                task.cancel(msg="cancelled by the script")
        elif isinstance(message, RunEnd):
            self._end(_sanitized(message), kill=False)
        else:
            raise _Violation(f"the child sent a host message ({type(message).__name__})")

    async def _push(self, event: Started | ChatEvent | SettingsUpdated) -> None:
        while len(self._events) >= _BUFFERED_EVENTS:
            self._writable.clear()
            await self._writable.wait()
        self._events.append(event)
        self._readable.set()

    def _stored(self, attachment: AttachmentInfo) -> None:
        self._urls.add(attachment.url)

    def _known(self, attachment: AttachmentInfo) -> bool:
        if attachment.url in self._urls:
            return True
        logger.warning("attachment left out: its URL did not come from the host")
        return False

    def _count_output(self, event: ChatEvent) -> bool:
        """Check ids and the output cap; False (run ended) when the child overshoots."""
        if isinstance(event, MessageAdded):
            if event.msg_id != len(self._lengths):
                raise _Violation("MessageAdded out of order")
            self._lengths.append(len(event.text))
            self._total_chars += len(event.text) + (_SEPARATOR_CHARS if event.msg_id else 0)
        elif not 0 <= event.msg_id < len(self._lengths):
            raise _Violation(f"{type(event).__name__} for an unknown message")
        elif isinstance(event, TextAppended):
            self._lengths[event.msg_id] += len(event.text)
            self._total_chars += len(event.text)
        elif isinstance(event, TextReplaced):
            self._total_chars += len(event.text) - self._lengths[event.msg_id]
            self._lengths[event.msg_id] = len(event.text)
        if self._total_chars > self._limits.max_output_chars:
            limit = self._limits.max_output_chars
            self._end(
                RunEnd(
                    "killed",
                    f"The response reached its output limit ({limit} characters).",
                    "output",
                ),
                kill=True,
            )
            return False
        return True

    # -- answering the child ------------------------------------------------------------

    def _spawn(self, key: tuple[str, int], work: Any) -> None:
        # HTTP requests are counted apart (MAX_HTTP_IN_FLIGHT): asyncio.gather over a page of
        # URLs is an ordinary script, and the run's request budget bounds them anyway.
        same_kind = sum(1 for k in self._tasks if (k[0] == "http") == (key[0] == "http"))
        limit = MAX_HTTP_IN_FLIGHT if key[0] == "http" else MAX_IN_FLIGHT
        if key in self._tasks or same_kind >= limit:
            work.close()
            raise _Violation(f"{key[0]} id {key[1]} reused, or too many in flight")
        task = asyncio.get_running_loop().create_task(work)
        self._tasks[key] = task
        task.add_done_callback(lambda _: self._tasks.pop(key, None))

    async def _fetch_in_turn(self, request: FetchRequest) -> None:
        """A fetch, once fewer than MAX_TRANSFERS_IN_FLIGHT run (a flood of them waits here,
        and still trips MAX_IN_FLIGHT)."""
        async with self._transfer_turns:
            await self._transfers.fetch(request)

    def _spawn_upload(self, request: UploadRequest) -> None:
        """The complete upload's task; it gives back the turn its UploadRequest took."""

        async def in_turn() -> None:
            try:
                await self._transfers.upload(request)
            finally:
                self._transfer_turns.release()

        try:
            self._spawn(("request", request.request_id), in_turn())
        except BaseException:
            self._transfer_turns.release()
            raise

    async def _reply(
        self,
        message: BotCallPart
        | BotCallEnd
        | FetchChunk
        | FetchResult
        | UploadResult
        | HttpHead
        | HttpChunk
        | HttpEnd,
    ) -> None:
        with contextlib.suppress(ChannelClosed):  # the reader sees it too and ends the run
            await self._child.channel.send(message)

    async def _call_bot(self, start: BotCallStart) -> None:
        call_id, request = start.call_id, start.request
        end = BotCallEnd(call_id)
        parts: Any = None
        try:
            parts = self._services.call_bot(request)
            async for part in parts:
                dumped = _dump_part(part)
                attachment = dumped.get("attachment")
                if isinstance(attachment, dict) and isinstance(attachment.get("url"), str):
                    self._urls.add(attachment["url"])
                await self._reply(BotCallPart(call_id, dumped))
        except asyncio.CancelledError:
            if self._final is not None:
                raise  # the run is over: nobody to answer
            end = BotCallEnd(call_id, error="The call was cancelled.")
        except BotCallLimit as exc:
            limit = exc.limit if is_limit_name(exc.limit) else "bot_calls"
            end = BotCallEnd(call_id, limit=limit)
        except BotCallRefused as exc:
            end = BotCallEnd(call_id, error=exc.message)
        except Exception:  # a fault of the service, not of the script: log it, tell the script
            logger.exception("bot call to %r failed in the service", request.bot_name)
            end = BotCallEnd(call_id, error="The bot call failed.")
        finally:
            aclose = getattr(parts, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
        await self._reply(end)


def _dump_part(part: fp.PartialResponse) -> dict[str, Any]:
    try:
        return part.model_dump(mode="json")
    except Exception:  # an unserialisable raw_response: the part without it
        return part.model_dump(mode="json", exclude={"raw_response"})


def _conversation_urls(conversation: list[dict[str, Any]]) -> set[str]:
    """URLs of the query's attachments (``fp.ProtocolMessage`` dumps)."""
    urls: set[str] = set()
    for message in conversation:
        for attachment in message.get("attachments") or ():
            if isinstance(attachment, dict) and isinstance(attachment.get("url"), str):
                urls.add(attachment["url"])
    return urls


def _bounded(error: str) -> str:
    return error[:MAX_ERROR_CHARS] + "…" if len(error) > MAX_ERROR_CHARS else error


def _sanitized(end: RunEnd) -> RunEnd:
    """The child's RunEnd with what only the host may say removed, and its text bounded."""
    status = end.status if end.status in ("ok", "error") else "error"
    error = None if end.error is None else _bounded(end.error)
    if status == "ok" and error is None and end.limit is None and end.line is None:
        return end
    line = end.line if end.line is not None and end.line >= 1 else None
    return RunEnd(status, error, end.limit, line)
