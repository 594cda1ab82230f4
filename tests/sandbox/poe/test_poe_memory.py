"""MemoryPort, the in-memory HostPort: budget, failures, files, and reading events back."""

from __future__ import annotations

import fastapi_poe as fp
import pytest

from sandbox.poe import BotCallError, BotError, LimitReached, MemoryPort
from sandbox.protocol import BotCallRequest, MessageAdded, TextAppended, TextReplaced


def request(bot_name: str = "B") -> BotCallRequest:
    return BotCallRequest(bot_name=bot_name, messages=[{"role": "user", "content": "x"}])


def test_bot_crash_becomes_bot_call_error() -> None:
    def crashing(request):
        yield fp.PartialResponse(text="a")
        raise RuntimeError("segfault")

    parts = MemoryPort({"B": crashing}).call_bot(request())
    assert next(parts).text == "a"
    with pytest.raises(BotCallError, match="segfault"):
        next(parts)


def test_budget_counts_every_call() -> None:
    port = MemoryPort({"B": lambda r: iter(())}, max_bot_calls=2)
    port.call_bot(request())
    with pytest.raises(BotCallError):
        port.call_bot(request("Unknown"))  # an unknown bot still spends a call
    with pytest.raises(LimitReached):
        port.call_bot(request())
    assert len(port.requests) == 2


def test_files_round_trip_and_missing_files_raise() -> None:
    port = MemoryPort(files={"https://x/a": b"a"})
    assert port.fetch("https://x/a") == b"a"
    info = port.upload("b.txt", b"b", None, True)
    assert info.url.endswith("/b.txt") and info.content_type == "application/octet-stream"
    assert port.fetch(info.url) == b"b"
    with pytest.raises(BotError):
        port.fetch("https://x/missing")


def test_texts_rebuild_the_response_from_events() -> None:
    port = MemoryPort()
    port.emit(MessageAdded(msg_id=0, role="bot", text="a"))
    port.emit(MessageAdded(msg_id=1, role="bot", text="x"))
    port.emit(TextAppended(0, "b"))
    port.emit(TextReplaced(1, "y"))
    assert port.texts() == ["ab", "y"]
    assert port.response_text() == "ab\n\ny"
