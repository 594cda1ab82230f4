"""One run's dealings beyond the sandbox: bot calls, attachments, the response it builds."""

from __future__ import annotations

from service.runs.attachments import (
    AttachmentError,
    AttachmentLimit,
    AttachmentStore,
    CappedUploader,
    MemoryAttachmentStore,
    PoeUploader,
    StoredAttachment,
    StoreUploader,
    UrlFetcher,
    fetch_attachment,
)
from service.runs.botcalls import (
    BotRouter,
    CallBudget,
    LocalBot,
    LocalBots,
    UpstreamBots,
    parts_from_run,
)
from service.runs.response import ResponseText

__all__ = [
    "AttachmentError",
    "AttachmentLimit",
    "AttachmentStore",
    "BotRouter",
    "CallBudget",
    "CappedUploader",
    "LocalBot",
    "LocalBots",
    "MemoryAttachmentStore",
    "PoeUploader",
    "ResponseText",
    "StoreUploader",
    "StoredAttachment",
    "UpstreamBots",
    "UrlFetcher",
    "fetch_attachment",
    "parts_from_run",
]
