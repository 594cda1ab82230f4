"""The sandbox: runs one script once, in a fresh isolated process, for the service.

Imports nothing from service/. The service builds a SandboxPool at start-up, passes each run
a RunStart and its RunServices, and reads events until the one RunEnd.
"""

from sandbox.completions import completions
from sandbox.errors import (
    BotCallLimit,
    BotCallRefused,
    HttpRefused,
    SandboxError,
    SandboxUnavailable,
)
from sandbox.extraction import needs_settings_run
from sandbox.fairness import FairSlots
from sandbox.host import SandboxPool
from sandbox.isolation.status import Protection, SandboxStatus
from sandbox.policy.compiler import Problem, check_source
from sandbox.pools import TemplatePools
from sandbox.protocol import (
    AttachmentInfo,
    BotCallRequest,
    ChatEvent,
    HttpHead,
    HttpRequest,
    Limits,
    MessageFailed,
    RunEnd,
    RunStart,
    SettingsUpdated,
    Started,
)
from sandbox.services import RunServices
from sandbox.spool import Spool

__all__ = [
    "AttachmentInfo",
    "BotCallLimit",
    "BotCallRefused",
    "BotCallRequest",
    "ChatEvent",
    "FairSlots",
    "HttpHead",
    "HttpRefused",
    "HttpRequest",
    "Limits",
    "MessageFailed",
    "Problem",
    "Protection",
    "RunEnd",
    "RunServices",
    "RunStart",
    "SandboxError",
    "SandboxPool",
    "SandboxStatus",
    "SandboxUnavailable",
    "SettingsUpdated",
    "Spool",
    "Started",
    "TemplatePools",
    "check_source",
    "completions",
    "needs_settings_run",
]
