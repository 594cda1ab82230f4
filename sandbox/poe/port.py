"""HostPort: the `poe` runtime's only way out of the script.

The runtime (this package) imports nothing of HTTP, databases or processes. Everything a
script does that reaches beyond its own memory goes through one HostPort object, given to
``namespace.build_namespace``: in the sandbox child it is the channel to the host
(``sandbox/child``), in tests an in-memory implementation. A port must be thread-safe:
``poe.parallel`` calls it from up to 21 threads at once.

- ``emit(event)``: a chat event (``sandbox.protocol.ChatEvent``) of a message echoed to the
  chat UI. The runtime numbers echoed messages (``msg_id`` from 0) and calls ``emit`` under
  one lock, so events arrive in the order the script made them. Emitting never blocks on
  the host's answer.
- ``call_bot(request)``: start a bot call; iterate the returned iterator for the bot's
  ``fp.PartialResponse`` parts as they arrive. Closing the iterator early cancels the call.
  Raises ``errors.BotCallError`` (the bot failed, with its message) or
  ``errors.LimitReached("bot_calls")`` (budget spent), from the call or while iterating.
- ``fetch(url)``: the bytes at an attachment URL (the host checks scheme, address, size).
  Raises ``errors.BotError`` with a message the script may show.
- ``upload(name, contents, content_type, is_inline)``: store attachment contents and return
  where they live (``AttachmentInfo`` with url, content type, inline_ref). Raises like fetch,
  or ``LimitReached("output")`` past the attachments a response may carry.
- ``update_settings(settings)``: in a settings run only (``RunMode`` "settings"), the
  ``fp.SettingsResponse`` fields the script set with ``poe.update_settings``, as JSON.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import fastapi_poe as fp

from sandbox.protocol import AttachmentInfo, BotCallRequest, ChatEvent


class HostPort(Protocol):
    def emit(self, event: ChatEvent) -> None: ...

    def call_bot(self, request: BotCallRequest) -> Iterator[fp.PartialResponse]: ...

    def fetch(self, url: str) -> bytes: ...

    def upload(
        self, name: str, contents: bytes, content_type: str | None, is_inline: bool
    ) -> AttachmentInfo: ...

    def update_settings(self, settings: dict[str, Any]) -> None: ...
