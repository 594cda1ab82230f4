"""A run's secrets kept out of what it leaves behind: its output, errors and records (issue 10).

Every value of the script's secrets (``os.environ`` in its run) is replaced by ``***`` in
the chat events before they become SSE, the transcript or the run's error. Streamed text can
split a secret over several appends, so the end of a message that could be the start of a
secret is held back until the next append (or the message's end) settles it: no prefix of
a secret is ever shown either. Each append costs only its own length and the held tail.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

from sandbox.protocol import (
    ChatEvent,
    MessageAdded,
    MessageFailed,
    MessageFinished,
    RunEnd,
    Started,
    TextAppended,
    TextReplaced,
)

MASK = "***"
MIN_SECRET_CHARS = 4  # shorter values ("1", "yes") would mask ordinary text, and hide little

RunItem = Started | ChatEvent | RunEnd


class _Message:
    __slots__ = ("raw", "settled", "shown")

    def __init__(self, raw: str) -> None:
        self.raw = raw  # the script's text
        self.settled = 0  # raw[:settled] is final and shown (as ``shown``)
        self.shown = ""


class Redactor:
    """Masks ``secrets`` in one run's items (``items``) and in any text (``text``)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        values = sorted({v for v in secrets if len(v) >= MIN_SECRET_CHARS}, key=len, reverse=True)
        self._values = values
        self._pattern = re.compile("|".join(map(re.escape, values))) if values else None
        self._longest = len(values[0]) if values else 0
        self._messages: dict[int, _Message] = {}

    @property
    def values(self) -> tuple[str, ...]:
        """The values it masks (a nested run masks its caller's too)."""
        return tuple(self._values)

    @property
    def active(self) -> bool:
        return self._pattern is not None

    def text(self, value: str) -> str:
        return value if self._pattern is None else self._pattern.sub(MASK, value)

    def apply(self, item: RunItem) -> list[RunItem]:
        if self._pattern is None or isinstance(item, Started):
            return [item]
        if isinstance(item, MessageAdded):
            added = self._messages[item.msg_id] = _Message(item.text)
            return [dataclasses.replace(item, text=self._advance(added, final=False))]
        if isinstance(item, RunEnd):
            error = None if item.error is None else self.text(item.error)
            return [*self._flush_all(), dataclasses.replace(item, error=error)]
        message = self._messages.get(item.msg_id)
        if message is None:  # not a message of this run: the event stream refuses it
            return [item]
        if isinstance(item, TextAppended):
            message.raw += item.text
            delta = self._advance(message, final=False)
            return [TextAppended(item.msg_id, delta)] if delta else []
        if isinstance(item, TextReplaced):
            message.raw, message.settled, message.shown = item.text, 0, ""
            return [TextReplaced(item.msg_id, self._advance(message, final=False))]
        if isinstance(item, MessageFinished):
            return [*self._flush(item.msg_id, message), item]
        if isinstance(item, MessageFailed):
            failed = MessageFailed(item.msg_id, self.text(item.error))
            return [*self._flush(item.msg_id, message), failed]
        return [item]  # AttachmentAdded

    def _advance(self, message: _Message, *, final: bool) -> str:
        """Settle what can be settled; the newly shown text."""
        assert self._pattern is not None
        raw, start = message.raw, message.settled
        cut = len(raw) if final else len(raw) - self._held(raw)
        for match in self._pattern.finditer(raw, start):
            if match.start() < cut < match.end():  # never cut through a whole secret
                cut = match.start()
                break
        cut = max(cut, start)
        delta = self._pattern.sub(MASK, raw[start:cut])
        message.settled = cut
        message.shown += delta
        return delta

    def _held(self, raw: str) -> int:
        """The longest end of ``raw`` that is the start (not the whole) of a secret."""
        tail = raw[-(self._longest - 1) :] if self._longest > 1 else ""
        held = 0
        for value in self._values:
            # Only where the value's first character appears can one of its starts begin.
            at = tail.find(value[0], max(0, len(tail) - len(value) + 1))
            while at != -1 and len(tail) - at > held:
                if value.startswith(tail[at:]):
                    held = len(tail) - at
                    break
                at = tail.find(value[0], at + 1)
        return held

    def _flush(self, msg_id: int, message: _Message) -> list[RunItem]:
        delta = self._advance(message, final=True)
        return [TextAppended(msg_id, delta)] if delta else []

    def _flush_all(self) -> list[RunItem]:
        out: list[RunItem] = []
        for msg_id, message in sorted(self._messages.items()):
            out += self._flush(msg_id, message)
        return out
