"""Exceptions of the sandbox host. They carry data, not HTTP statuses.

SandboxError
├── SandboxUnavailable   the template process cannot start or has died
├── BotCallRefused       raised by RunServices.call_bot; becomes BotCallEnd(error=...)
│   └── BotCallLimit     the run's bot-call budget is spent; BotCallEnd(limit=...)
└── HttpRefused          raised by RunServices.http; becomes HttpEnd(error=..., failure=...)
"""

from __future__ import annotations


class SandboxError(Exception):
    pass


class SandboxUnavailable(SandboxError):
    pass


class BotCallRefused(SandboxError):
    """The called bot failed or cannot be reached; ``message`` is shown to the script."""

    def __init__(self, bot_name: str, message: str) -> None:
        super().__init__(f"{bot_name}: {message}")
        self.bot_name = bot_name
        self.message = message


class BotCallLimit(BotCallRefused):
    def __init__(self, bot_name: str, limit: str = "bot_calls") -> None:
        super().__init__(bot_name, f"the run reached its {limit} limit")
        self.limit = limit


class HttpRefused(SandboxError):
    """A script's HTTP request refused or failed; ``message`` is shown to the script and
    ``failure`` (``protocol.HttpFailure``) picks its client library's exception."""

    def __init__(self, message: str, failure: str = "refused") -> None:
        super().__init__(message)
        self.message = message
        self.failure = failure
