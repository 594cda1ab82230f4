"""RunServices: what the service lends the sandbox host for one run.

The host never imports the service. A run's upward needs, a bot call or an attachment,
travel through the object the caller passes to ``SandboxPool.run`` (as httpx takes a
transport). The host answers the child with what these return:

- ``call_bot(request)``: async iterator of the called bot's ``fp.PartialResponse`` parts.
  Raise ``errors.BotCallRefused`` (or ``BotCallLimit`` when the budget is spent), before or
  while streaming. The implementation enforces the bot-call budget; the child's count is
  never trusted.
- ``fetch(url)``: the body at an attachment URL, after the SPEC §8 checks (scheme,
  address, size): an async iterator of ``bytes`` chunks as they arrive, so that no body is
  held whole (issue 11). Raise ``BotCallRefused("", message)`` before or while streaming.
- ``upload(name, contents, content_type, is_inline)``: store an attachment of the response,
  ``contents`` a ``Spool`` (read it in chunks; the host closes it afterwards), and return
  where it lives (``AttachmentInfo``). Raise like ``fetch``.
- ``http(request)``: a half-shield script's own HTTP request (``HttpRequest``), performed
  under the fetch rules and the run's request budget, redirects not followed: an async
  iterator of the response's ``HttpHead`` first, then its body as ``bytes`` chunks as they
  arrive (the host forwards each, the child acknowledging, so no body is held whole).
  Raise ``errors.HttpRefused`` before or while streaming.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

import fastapi_poe as fp

from sandbox.protocol import AttachmentInfo, BotCallRequest, HttpHead, HttpRequest
from sandbox.spool import Spool


class RunServices(Protocol):
    def call_bot(self, request: BotCallRequest) -> AsyncIterator[fp.PartialResponse]: ...

    def fetch(self, url: str) -> AsyncIterator[bytes]: ...

    async def upload(
        self, name: str, contents: Spool, content_type: str | None, is_inline: bool
    ) -> AttachmentInfo: ...

    def http(self, request: HttpRequest) -> AsyncIterator[HttpHead | bytes]: ...
