"""The response of a run as Poe sees it, built from the sandbox's chat events.

SPEC §7: the response is the ordered list of echoed messages joined by a blank line (empty
messages add nothing). Each chat event either *appends* to the end of that text, or
*rewrites* it (an overwrite, a write into an earlier message), or adds an attachment.
Both the Poe SSE mapping (``runs/events.py``) and a hosted script called by another script
(``runs/botcalls.py``) turn these changes into their own stream; this module does no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.protocol import (
    AttachmentAdded,
    AttachmentInfo,
    ChatEvent,
    MessageAdded,
    MessageFailed,
    MessageFinished,
    RunEnd,
    TextAppended,
    TextReplaced,
)

SEPARATOR = "\n\n"


@dataclass(frozen=True)
class Appended:
    """``text`` was added at the very end of the response (separator included)."""

    text: str


@dataclass(frozen=True)
class Rewritten:
    """The response changed other than at its end; send it whole (``ResponseText.render``)."""


@dataclass(frozen=True)
class AttachmentOut:
    attachment: AttachmentInfo


@dataclass(frozen=True)
class Failed:
    """A message failed (``Message.fail``): Poe's protocol shows one response, so this becomes
    the response's ``error`` at its end (``events.py``), its text kept."""

    error: str


Change = Appended | Rewritten | AttachmentOut | Failed


def with_failures(end: RunEnd, failures: list[str]) -> RunEnd:
    """How a run ended once its failed messages count: a run whose script ended well but
    failed a message (``Message.fail``) is an error, shown with the failure texts."""
    if not failures:
        return end
    text = "\n\n".join(failures)
    if end.status == "ok" and end.limit is None:
        return RunEnd("error", text)
    return RunEnd(end.status, f"{text}\n\n{end.error}" if end.error else text, end.limit)


class ResponseText:
    """The messages of one response and the length of their joined text. Appends cost O(1)
    (pieces are joined only when the text is read), so that a 100k-character response
    streamed in tiny pieces stays cheap."""

    def __init__(self) -> None:
        self._pieces: list[list[str]] = []  # per message, its text in pieces
        self._lengths: list[int] = []
        self._last_nonempty = -1  # index of the last message that has text
        self._nonempty = 0
        self._chars = 0  # sum of the texts' lengths

    @property
    def length(self) -> int:
        """Length of ``render()``, without building it."""
        return self._chars + len(SEPARATOR) * max(self._nonempty - 1, 0)

    def render(self) -> str:
        return SEPARATOR.join(self._text(i) for i, n in enumerate(self._lengths) if n)

    def apply(self, event: ChatEvent) -> list[Change]:
        """Record one chat event; what it changed, in order. ``ValueError`` for an event
        that names a message never added (ids count from 0 in the order of adding)."""
        if isinstance(event, MessageAdded):
            changes = self._set_new(event.msg_id, event.text)
            return changes + [AttachmentOut(info) for info in event.attachments]
        if isinstance(event, TextAppended):
            return self._append(event.msg_id, event.text)
        if isinstance(event, TextReplaced):
            return self._replace(event.msg_id, event.text)
        if isinstance(event, AttachmentAdded):
            self._known(event.msg_id)
            return [AttachmentOut(event.attachment)]
        if isinstance(event, MessageFinished):
            self._known(event.msg_id)
            return []
        if isinstance(event, MessageFailed):
            self._known(event.msg_id)
            return [Failed(event.error)]
        raise TypeError(f"not a chat event: {type(event).__name__}")

    def _text(self, msg_id: int) -> str:
        pieces = self._pieces[msg_id]
        if len(pieces) > 1:
            pieces[:] = ["".join(pieces)]
        return pieces[0] if pieces else ""

    def _known(self, msg_id: int) -> None:
        # Ids come from the untrusted child: only messages it added may change.
        if not 0 <= msg_id < len(self._pieces):
            raise ValueError(f"unknown message id {msg_id}")

    def _set_new(self, msg_id: int, text: str) -> list[Change]:
        if msg_id == len(self._pieces):
            self._pieces.append([])
            self._lengths.append(0)
            return self._append(msg_id, text)
        self._known(msg_id)  # a message added twice: an overwrite
        return self._replace(msg_id, text)

    def _append(self, msg_id: int, text: str) -> list[Change]:
        self._known(msg_id)
        if not text:
            return []
        at_end = msg_id >= self._last_nonempty
        separator = SEPARATOR if at_end and msg_id > self._last_nonempty >= 0 else ""
        self._pieces[msg_id].append(text)
        self._resized(msg_id, self._lengths[msg_id] + len(text))
        return [Appended(separator + text)] if at_end else [Rewritten()]

    def _replace(self, msg_id: int, text: str) -> list[Change]:
        # SPEC §7 names overwrite among the changes that send replace_response, even one
        # that happens to extend the text; only a no-op stays silent.
        self._known(msg_id)
        if self._lengths[msg_id] == len(text) and self._text(msg_id) == text:
            return []
        self._pieces[msg_id] = [text] if text else []
        self._resized(msg_id, len(text))
        return [Rewritten()]

    def _resized(self, msg_id: int, length: int) -> None:
        old = self._lengths[msg_id]
        self._lengths[msg_id] = length
        self._chars += length - old
        self._nonempty += bool(length) - bool(old)
        if length and msg_id > self._last_nonempty:
            self._last_nonempty = msg_id
        elif not length and msg_id == self._last_nonempty:
            earlier = (i for i in range(msg_id - 1, -1, -1) if self._lengths[i])
            self._last_nonempty = next(earlier, -1)
