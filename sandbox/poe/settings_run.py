"""The port of a settings run: the script is being saved, so nothing may leave it but its
``poe.update_settings`` (Poe runs a saved script up to ``if __name__ == "__main__":``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NoReturn

import fastapi_poe as fp

from sandbox.poe.port import HostPort
from sandbox.protocol import AttachmentInfo, BotCallRequest, ChatEvent

_WHERE = (
    "while the script's settings are read, when it is saved: "
    'do it under if __name__ == "__main__":'
)


class NotWhileSaving(RuntimeError):
    """Output, a bot call or a fetch in a settings run."""


def _refuse(what: str) -> NoReturn:
    raise NotWhileSaving(f"{what} is not available {_WHERE}")


class SettingsRunPort:
    """A HostPort that refuses everything but ``update_settings``, which goes to ``inner``."""

    def __init__(self, inner: HostPort) -> None:
        self._inner = inner

    def emit(self, event: ChatEvent) -> None:
        _refuse("Output (print, messages added to poe.default_chat)")

    def call_bot(self, request: BotCallRequest) -> Iterator[fp.PartialResponse]:
        _refuse(f"Calling a bot ({request.bot_name})")

    def fetch(self, url: str) -> bytes:
        _refuse("Fetching an attachment")

    def upload(
        self, name: str, contents: bytes, content_type: str | None, is_inline: bool
    ) -> AttachmentInfo:
        _refuse("Sending an attachment")

    def update_settings(self, settings: dict[str, Any]) -> None:
        self._inner.update_settings(settings)
