"""Runs: the orchestrator that takes a query or a console run from request to record, and
its parts beyond the sandbox (bot calls, attachments, the response it builds)."""

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
    HostedBot,
    HostedBots,
    UpstreamBots,
    parts_from_run,
)
from service.runs.botscript import BotCaller, BotScript
from service.runs.orchestrator import Orchestrator
from service.runs.response import ResponseText
from service.runs.run import Run

__all__ = [
    "AttachmentError",
    "AttachmentLimit",
    "AttachmentStore",
    "BotCaller",
    "BotRouter",
    "BotScript",
    "CallBudget",
    "CappedUploader",
    "HostedBot",
    "HostedBots",
    "MemoryAttachmentStore",
    "Orchestrator",
    "PoeUploader",
    "ResponseText",
    "Run",
    "StoreUploader",
    "StoredAttachment",
    "UpstreamBots",
    "UrlFetcher",
    "fetch_attachment",
    "parts_from_run",
]
