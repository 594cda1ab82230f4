"""MemoryPort: a real HostPort kept in memory (as httpx's MockTransport is a transport).

Bots are Python callables from a BotCallRequest to fp.PartialResponse parts; files live in a
dict. It records what the runtime did (events, requests, uploads, cancelled calls) and
behaves as the host promises: bot failures raise BotCallError, a spent budget raises
LimitReached("bot_calls"), an fp.ErrorResponse part ends the call with its text.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import fastapi_poe as fp

from sandbox.poe.errors import BotCallError, BotError, LimitReached
from sandbox.protocol import (
    AttachmentAdded,
    AttachmentInfo,
    BotCallRequest,
    ChatEvent,
    MessageAdded,
    TextAppended,
    TextReplaced,
)

Bot = Callable[[BotCallRequest], Iterable[fp.PartialResponse]]


class MemoryPort:
    """A thread-safe in-memory HostPort."""

    def __init__(
        self,
        bots: Mapping[str, Bot] | None = None,
        *,
        files: Mapping[str, bytes] | None = None,
        max_bot_calls: int = 10,
        file_base_url: str = "memory://files/",
    ) -> None:
        self.bots = dict(bots or {})
        self.files = dict(files or {})
        self.max_bot_calls = max_bot_calls
        self.file_base_url = file_base_url
        self.events: list[ChatEvent] = []
        self.requests: list[BotCallRequest] = []
        self.uploads: list[AttachmentInfo] = []
        self.fetches: list[str] = []
        self.cancelled: list[int] = []  # indexes into requests of calls closed early
        self.settings: list[dict[str, Any]] = []  # each poe.update_settings of a settings run
        self._lock = threading.Lock()

    # -- HostPort -----------------------------------------------------------------------

    def emit(self, event: ChatEvent) -> None:
        with self._lock:
            self.events.append(event)

    def call_bot(self, request: BotCallRequest) -> Iterator[fp.PartialResponse]:
        with self._lock:
            if len(self.requests) >= self.max_bot_calls:
                raise LimitReached("bot_calls")
            self.requests.append(request)
            number = len(self.requests) - 1
        bot = self.bots.get(request.bot_name)
        if bot is None:
            raise BotCallError(request.bot_name, "there is no bot with this name")
        return _Call(self, number, request.bot_name, bot(request))

    def fetch(self, url: str) -> bytes:
        with self._lock:
            self.fetches.append(url)
            contents = self.files.get(url)
        if contents is None:
            raise BotError(f"Cannot fetch {url}")
        return contents

    def upload(
        self, name: str, contents: bytes, content_type: str | None, is_inline: bool
    ) -> AttachmentInfo:
        with self._lock:
            url = f"{self.file_base_url}{len(self.uploads)}/{name}"
            info = AttachmentInfo(
                url=url,
                content_type=content_type or "application/octet-stream",
                name=name,
                inline_ref=None,
            )
            self.uploads.append(info)
            self.files[url] = contents
        return info

    def update_settings(self, settings: dict[str, Any]) -> None:
        with self._lock:
            self.settings.append(settings)

    # -- reading the response back ------------------------------------------------------

    def texts(self) -> list[str]:
        """Each echoed message's text, by msg_id, rebuilt from the events alone."""
        texts: list[str] = []
        for event in list(self.events):
            if isinstance(event, MessageAdded):
                assert event.msg_id == len(texts), "msg_ids are numbered in order"
                texts.append(event.text)
            elif isinstance(event, TextAppended):
                texts[event.msg_id] += event.text
            elif isinstance(event, TextReplaced):
                texts[event.msg_id] = event.text
        return texts

    def response_text(self) -> str:
        """The response as the host shows it: message texts joined by a blank line."""
        return "\n\n".join(self.texts())

    def attachments(self) -> list[AttachmentInfo]:
        return [e.attachment for e in self.events if isinstance(e, AttachmentAdded)] + [
            a for e in self.events if isinstance(e, MessageAdded) for a in e.attachments
        ]


class _Call:
    """A bot's parts; records an early close as a cancelled call."""

    def __init__(
        self, port: MemoryPort, number: int, bot_name: str, parts: Iterable[fp.PartialResponse]
    ) -> None:
        self._port = port
        self._number = number
        self._bot_name = bot_name
        self._parts = iter(parts)
        self._done = False

    def __iter__(self) -> _Call:
        return self

    def __next__(self) -> fp.PartialResponse:
        if self._done:
            raise StopIteration
        try:
            part = next(self._parts)
        except StopIteration:
            self._done = True
            raise
        except (BotCallError, LimitReached):
            self._done = True
            raise
        except Exception as exc:  # the bot crashed: the script sees a BotCallError
            self._done = True
            raise BotCallError(self._bot_name, str(exc)) from exc
        if isinstance(part, fp.ErrorResponse):
            self._done = True
            raise BotCallError(self._bot_name, part.text)
        return part

    def close(self) -> None:
        if not self._done:
            self._done = True
            with self._port._lock:
                self._port.cancelled.append(self._number)
            close = getattr(self._parts, "close", None)
            if close is not None:
                close()
