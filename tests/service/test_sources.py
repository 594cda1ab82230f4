"""What the service learns from a source: size, compile problems, bot dependencies."""

from __future__ import annotations

import pytest

from sandbox.policy.compiler import MAX_SOURCE_BYTES
from service.errors import SourceRejected, SourceTooLarge
from service.sources import check_script_source, infer_bot_dependencies

CALLS = """
poe.call("GPT-4o", "hi", output=poe.default_chat)
poe.call("@GPT-4o", "again")
for part in poe.stream("@Claude-Sonnet-4", poe.query):
    print(part)
poe.call(bot_name="Gemini", prompts="x")
name = "Computed"
poe.call(name, "not literal")
other.call("NotPoe", "x")
poe.call_tools(None, [])
poe.call("", "empty")
poe.call("@", "only an at sign")
"""


def test_literal_bot_names_are_counted_without_at_sign() -> None:
    assert infer_bot_dependencies(CALLS) == {"GPT-4o": 2, "Claude-Sonnet-4": 1, "Gemini": 1}


def test_unparseable_source_has_no_dependencies() -> None:
    assert infer_bot_dependencies("poe.call('x'") == {}


def test_checked_source_reports_size_in_bytes_and_dependencies() -> None:
    checked = check_script_source('poe.call("A", "é")\n')
    assert checked.size == len('poe.call("A", "é")\n'.encode())
    assert checked.bot_dependencies == {"A": 1}


def test_oversized_source_is_refused_before_compiling() -> None:
    with pytest.raises(SourceTooLarge) as caught:
        check_script_source("#" * (MAX_SOURCE_BYTES + 1))
    assert caught.value.limit == MAX_SOURCE_BYTES


def test_source_at_the_limit_is_accepted() -> None:
    assert check_script_source("#" * MAX_SOURCE_BYTES).size == MAX_SOURCE_BYTES


@pytest.mark.parametrize("source", ["def f(:\n", "x = _getattr_\n", "a\x00b", "x = '\ud800'\n"])
def test_rejected_sources_carry_positioned_problems(source: str) -> None:
    with pytest.raises(SourceRejected) as caught:
        check_script_source(source)
    assert caught.value.problems
    assert all(p.line >= 1 and p.col >= 1 and p.message for p in caught.value.problems)
