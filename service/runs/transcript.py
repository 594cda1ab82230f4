"""A run's transcript as it is stored: the events it sent, bounded in size (issue 11).

A ``replace_response`` carries the whole response, so every ``text`` and earlier
``replace_response`` before it is dropped: the transcript holds the latest state, and
folding it (``routes/pages/transcript.py``, a client) shows what folding every event would.
Past ``max_bytes`` of event data one ``transcript_truncated`` marker is stored and then only
the run's ending (``error``, ``done``), so an overwrite storm stores one response, not one
per rewrite, and no run stores more than the limit (plus its bounded ending).
"""

from __future__ import annotations

import json
from typing import Any

TRUNCATED = "transcript_truncated"
_TEXT_EVENTS = frozenset({"text", "replace_response"})
_ENDING_EVENTS = frozenset({"error", "done"})


class Transcript:
    """Entries (``{"event", "data"}``) in the order sent; ``add`` each event's name and JSON."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.entries: list[dict[str, Any]] = []
        self._sizes: list[int] = []
        self.stored_bytes = 0
        self.truncated = False

    def add(self, event: str, data: str) -> None:
        if self.truncated:
            if event in _ENDING_EVENTS:
                self._append(event, data, len(data.encode()))
            return
        if event == "replace_response":
            self._drop_text()
        size = len(data.encode())
        if self.stored_bytes + size > self.max_bytes:
            self.truncated = True
            marker = {
                "text": "The rest of this run's events were not stored: its transcript "
                f"reached the limit of {self.max_bytes // (1024 * 1024)} MB.",
                "max_bytes": self.max_bytes,
            }
            self.entries.append({"event": TRUNCATED, "data": marker})
            self._sizes.append(0)
            if event in _ENDING_EVENTS:
                self._append(event, data, size)
            return
        self._append(event, data, size)

    def _append(self, event: str, data: str, size: int) -> None:
        self.entries.append({"event": event, "data": json.loads(data)})
        self._sizes.append(size)
        self.stored_bytes += size

    def _drop_text(self) -> None:
        kept = [
            (entry, size)
            for entry, size in zip(self.entries, self._sizes, strict=True)
            if entry["event"] not in _TEXT_EVENTS
        ]
        self.entries = [entry for entry, _ in kept]
        self._sizes = [size for _, size in kept]
        self.stored_bytes = sum(self._sizes)
