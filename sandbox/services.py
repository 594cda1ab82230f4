"""RunServices: what the service lends the sandbox host for one run.

The host never imports the service. A run's upward needs, a bot call or an attachment,
travel through the object the caller passes to ``SandboxPool.run`` (as httpx takes a
transport). The host answers the child with what these return:

- ``call_bot(request)``: async iterator of the called bot's ``fp.PartialResponse`` parts.
  Raise ``errors.BotCallRefused`` (or ``BotCallLimit`` when the budget is spent), before or
  while streaming. The implementation enforces the bot-call budget; the child's count is
  never trusted.
- ``fetch(url)``: the bytes at an attachment URL, after the SPEC §8 checks (scheme,
  address, size). Raise ``BotCallRefused("", message)`` on refusal.
- ``upload(name, contents, content_type, is_inline)``: store an attachment of the response
  and return where it lives (``AttachmentInfo``). Raise like ``fetch``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

import fastapi_poe as fp

from sandbox.protocol import AttachmentInfo, BotCallRequest


class RunServices(Protocol):
    def call_bot(self, request: BotCallRequest) -> AsyncIterator[fp.PartialResponse]: ...

    async def fetch(self, url: str) -> bytes: ...

    async def upload(
        self, name: str, contents: bytes, content_type: str | None, is_inline: bool
    ) -> AttachmentInfo: ...
