"""The stored transcript: rewrites replace the text before them, and past its size a
marker, then only the run's ending (issue 11)."""

from __future__ import annotations

import json

from service.runs.transcript import TRUNCATED, Transcript


def _add(transcript: Transcript, event: str, **data: object) -> None:
    transcript.add(event, json.dumps(data))


def test_a_rewrite_replaces_the_text_before_it_and_keeps_files() -> None:
    transcript = Transcript(max_bytes=10_000)
    _add(transcript, "meta", linkify=True)
    _add(transcript, "text", text="a")
    _add(transcript, "file", url="https://x/f", name="f")
    _add(transcript, "replace_response", text="b")
    _add(transcript, "text", text="c")
    _add(transcript, "replace_response", text="d")
    _add(transcript, "done")
    assert [e["event"] for e in transcript.entries] == ["meta", "file", "replace_response", "done"]
    assert transcript.entries[2]["data"] == {"text": "d"}


def test_past_its_size_a_marker_then_only_the_ending() -> None:
    transcript = Transcript(max_bytes=100)
    for _ in range(10):
        _add(transcript, "text", text="x" * 30)
    _add(transcript, "file", url="https://x/f", name="f")
    _add(transcript, "error", text="boom", allow_retry=False)
    _add(transcript, "done")
    kinds = [e["event"] for e in transcript.entries]
    assert kinds == ["text", "text", TRUNCATED, "error", "done"]
    assert (
        transcript.stored_bytes <= 100 + len(json.dumps({"text": "boom", "allow_retry": False})) + 2
    )
