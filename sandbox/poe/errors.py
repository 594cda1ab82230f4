"""Exceptions a script sees: the documented ``poe.BotError`` and the ones the host raises."""

from __future__ import annotations


class BotError(Exception):
    """``poe.BotError``: raise it to end the run with ``message`` shown to the user."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class BotCallError(BotError):
    """A bot the script called failed; catchable as ``poe.BotError``."""

    def __init__(self, bot_name: str, message: str) -> None:
        super().__init__(f"Bot {bot_name!r} failed: {message}")
        self.bot_name = bot_name
        self.bot_message = message


class LimitReached(Exception):
    """A run limit was reached (``limit`` is a ``sandbox.protocol.LimitName``).

    Deliberately not a BotError: a script that catches BotError around a bot call must not
    swallow the end of its budget by accident."""

    def __init__(self, limit: str, message: str | None = None) -> None:
        super().__init__(message or f"The run reached its {limit} limit.")
        self.limit = limit
