"""The script's response: the messages echoed to the chat UI, numbered, counted and emitted.

Every chat event of a run goes through one Response and its one lock, so events reach the
port in a total order that matches the state of the messages (SPEC §7). The output cap is
checked *before* a change is applied, so a flood is refused instead of buffered.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from sandbox.poe.errors import LimitReached
from sandbox.poe.port import HostPort
from sandbox.protocol import (
    AttachmentAdded,
    AttachmentInfo,
    MessageAdded,
    MessageFailed,
    MessageFinished,
    Role,
    TextAppended,
    TextReplaced,
)

# The host joins message texts with a blank line (SPEC §7); those characters count too.
SEPARATOR_CHARS = 2


class Response:
    """Numbers echoed messages from 0, keeps the response's length, emits chat events."""

    def __init__(self, port: HostPort, max_output_chars: int) -> None:
        self.lock = threading.RLock()
        self._port = port
        self._max_chars = max_output_chars
        self._lengths: list[int] = []  # current text length per msg_id
        self._total = 0
        self._open: set[int] = set()  # msg_ids without MessageFinished yet

    @property
    def total_chars(self) -> int:
        return self._total

    def check(self, extra_chars: int) -> None:
        """Raise LimitReached("output") if the response would grow past the cap."""
        if extra_chars > 0 and self._total + extra_chars > self._max_chars:
            raise LimitReached("output", f"The response would exceed {self._max_chars} characters.")

    def add(
        self,
        *,
        role: Role,
        text: str,
        sender_name: str | None,
        content_type: str,
        attachments: list[AttachmentInfo],
        finished: bool,
    ) -> int:
        """A message joins the response; returns its msg_id."""
        with self.lock:
            cost = len(text) + (SEPARATOR_CHARS if self._lengths else 0)
            self.check(cost)
            msg_id = len(self._lengths)
            self._lengths.append(len(text))
            self._total += cost
            self._port.emit(
                MessageAdded(
                    msg_id=msg_id,
                    role=role,
                    text=text,
                    sender_name=sender_name,
                    content_type=content_type,
                    attachments=attachments,
                )
            )
            if finished:
                self._port.emit(MessageFinished(msg_id))
            else:
                self._open.add(msg_id)
            return msg_id

    def append(self, msg_ids: Sequence[int], text: str) -> None:
        if not text or not msg_ids:
            return
        with self.lock:
            self.check(len(text) * len(msg_ids))
            for msg_id in msg_ids:
                self._lengths[msg_id] += len(text)
                self._total += len(text)
                self._port.emit(TextAppended(msg_id, text))

    def replace(self, msg_ids: Sequence[int], text: str) -> None:
        with self.lock:
            self.check(sum(len(text) - self._lengths[msg_id] for msg_id in msg_ids))
            for msg_id in msg_ids:
                self._total += len(text) - self._lengths[msg_id]
                self._lengths[msg_id] = len(text)
                self._port.emit(TextReplaced(msg_id, text))

    def attach(self, msg_ids: Sequence[int], info: AttachmentInfo) -> None:
        with self.lock:
            for msg_id in msg_ids:
                self._port.emit(AttachmentAdded(msg_id, info))

    def finish(self, msg_ids: Sequence[int]) -> None:
        with self.lock:
            for msg_id in msg_ids:
                if msg_id in self._open:
                    self._open.discard(msg_id)
                    self._port.emit(MessageFinished(msg_id))

    def fail(self, msg_ids: Sequence[int], error: str) -> None:
        """The messages are finished, failed with ``error`` (the host shows it as an error)."""
        with self.lock:
            for msg_id in msg_ids:
                if msg_id in self._open:
                    self._open.discard(msg_id)
                    self._port.emit(MessageFailed(msg_id, error))

    def finish_all(self) -> None:
        """End of run: every message still in progress is finished, in msg_id order."""
        with self.lock:
            self.finish(sorted(self._open))
