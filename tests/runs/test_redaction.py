"""A run's secrets are masked in its events (service/runs/redaction.py), also when the script
streams one a few characters at a time, and no start of one is shown before it is settled."""

from __future__ import annotations

import pytest

from sandbox.protocol import (
    MessageAdded,
    MessageFailed,
    MessageFinished,
    RunEnd,
    Started,
    TextAppended,
    TextReplaced,
)
from service.runs.redaction import MASK, Redactor
from service.runs.response import ResponseText

SECRET = "sk-abcdef0123456789"


def shown(redactor: Redactor, items: list[object]) -> tuple[str, list[object]]:
    """The response text after ``items``, and the events that came out."""
    out = [event for item in items for event in redactor.apply(item)]  # type: ignore[arg-type]
    text = ResponseText()
    for event in out:
        if not isinstance(event, Started | RunEnd):
            text.apply(event)  # type: ignore[arg-type]
    return text.render(), out


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 100])
def test_a_secret_streamed_in_pieces_is_masked_and_never_partly_shown(size: int) -> None:
    redactor = Redactor([SECRET])
    text = f"the key is {SECRET}, again {SECRET}!"
    items: list[object] = [MessageAdded(0, "bot", "")]
    items += [TextAppended(0, text[i : i + size]) for i in range(0, len(text), size)]
    seen = ""
    for item in items:
        for event in redactor.apply(item):  # type: ignore[arg-type]
            if isinstance(event, TextAppended):
                seen += event.text
                assert "sk-a" not in seen, seen  # not even a start of it
    final, _ = shown(Redactor([SECRET]), [*items, MessageFinished(0)])
    assert final == f"the key is {MASK}, again {MASK}!"


def test_held_text_that_is_not_a_secret_comes_out_at_the_end() -> None:
    final, out = shown(Redactor([SECRET]), [MessageAdded(0, "bot", "price: sk"), RunEnd("ok")])
    assert final == "price: sk"
    assert isinstance(out[0], MessageAdded) and out[0].text == "price: "


def test_replacements_failures_and_run_errors_are_masked() -> None:
    redactor = Redactor([SECRET, "hunter22"])
    final, out = shown(
        redactor,
        [
            MessageAdded(0, "bot", "x"),
            TextReplaced(0, f"now {SECRET} and hunter22"),
            MessageFailed(0, f"failed with {SECRET}"),
            RunEnd("error", f"Traceback: KeyError('{SECRET}')"),
        ],
    )
    assert final == f"now {MASK} and {MASK}"
    failed = next(e for e in out if isinstance(e, MessageFailed))
    end = out[-1]
    assert isinstance(end, RunEnd) and end.error == f"Traceback: KeyError('{MASK}')"
    assert failed.error == f"failed with {MASK}"


def test_overlapping_secrets_never_show_a_whole_one() -> None:
    redactor = Redactor(["abcd", "dzzz"])
    final, out = shown(
        redactor, [MessageAdded(0, "bot", "abcd"), TextAppended(0, "zzz"), RunEnd("ok")]
    )
    texts = [getattr(e, "text", "") for e in out]
    assert all("abcd" not in t and "dzzz" not in t for t in texts)
    assert "abcd" not in final and "dzzz" not in final


def test_short_values_and_no_secrets_change_nothing() -> None:
    redactor = Redactor(["1", "yes"])
    assert not redactor.active and redactor.text("yes 1") == "yes 1"
    item = MessageAdded(0, "bot", "yes 1")
    assert redactor.apply(item) == [item]
