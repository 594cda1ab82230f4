"""format_script_error: type, message and the script's own frames, nothing of the host."""

from __future__ import annotations

import json

from sandbox.policy import format_script_error
from tests.sandbox.policy.harness import run

NESTED = """\
def inner(x):
    return 1 / x

def outer():
    return inner(0)

outer()
"""


def test_shows_only_script_frames_with_their_lines() -> None:
    outcome = run(NESTED)
    assert outcome.error is not None
    assert format_script_error(outcome.error, NESTED) == (
        "Traceback (most recent call last):\n"
        '  File "<script>", line 7, in <module>\n'
        "    outer()\n"
        '  File "<script>", line 5, in outer\n'
        "    return inner(0)\n"
        '  File "<script>", line 2, in inner\n'
        "    return 1 / x\n"
        "ZeroDivisionError: division by zero"
    )


def test_library_frames_in_between_are_left_out() -> None:
    source = "import json\ndef hook(d):\n    raise ValueError('bad ' + str(d))\n" + (
        "json.loads('{\"a\": 1}', object_hook=hook)\n"
    )
    outcome = run(source)
    assert outcome.error is not None
    text = format_script_error(outcome.error, source)
    assert json.__file__ not in text and "json/" not in text
    assert text.splitlines()[-1] == "ValueError: bad {'a': 1}"
    assert [line for line in text.splitlines() if line.startswith("  File")] == [
        '  File "<script>", line 4, in <module>',
        '  File "<script>", line 3, in hook',
    ]


def test_without_source_lines_are_omitted() -> None:
    outcome = run("x = {}\nx['missing']\n")
    assert outcome.error is not None
    assert format_script_error(outcome.error) == (
        'Traceback (most recent call last):\n  File "<script>", line 2, in <module>\n'
        "KeyError: 'missing'"
    )


def test_guard_refusals_read_as_the_script_line() -> None:
    source = "x = getattr(int, '__subclasses__')\n"
    outcome = run(source)
    assert outcome.error is not None
    assert format_script_error(outcome.error, source).endswith(
        "    x = getattr(int, '__subclasses__')\n"
        "AttributeError: int.__subclasses__ is not available to scripts: "
        "every subclass in the process, the runtime's own among them"
    )


def test_chained_exceptions_of_the_script_are_shown() -> None:
    source = (
        "class Oops(Exception):\n    pass\n"
        "try:\n    {}['k']\nexcept KeyError as e:\n    raise Oops('no key') from e\n"
    )
    outcome = run(source)
    assert outcome.error is not None
    text = format_script_error(outcome.error, source)
    assert "KeyError: 'k'" in text
    assert "The above exception was the direct cause of the following exception:" in text
    assert text.endswith("Oops: no key")


def test_internal_causes_stay_internal() -> None:
    try:
        try:
            raise OSError("/srv/secret/path is broken")
        except OSError as inner:
            raise RuntimeError("bot call failed") from inner
    except RuntimeError as exc:
        assert format_script_error(exc) == "RuntimeError: bot call failed"


def test_messages_are_capped_and_str_failures_survive() -> None:
    source = (
        "class Loud(Exception):\n    def __str__(self):\n        return 1 / 0\n"
        "try:\n    raise ValueError('x' * 10000)\nexcept ValueError:\n    raise Loud()\n"
    )
    outcome = run(source)
    assert outcome.error is not None
    text = format_script_error(outcome.error, source)
    assert text.endswith("<exception str() failed for Loud>")
    assert "x" * 2000 + "…" in text and "x" * 2001 not in text


def test_deep_recursion_collapses_repeated_frames() -> None:
    source = "def f(n):\n    return f(n + 1)\nf(0)\n"
    outcome = run(source)
    assert isinstance(outcome.error, RecursionError)
    lines = format_script_error(outcome.error, source).splitlines()
    assert len([line for line in lines if line.startswith("  File")]) == 4  # <module> + 3 of f
    assert any(
        line.startswith("  [Previous line repeated ") and line.endswith(" more times]")
        for line in lines
    )
    assert lines[-1] == "RecursionError: maximum recursion depth exceeded"


def test_long_varied_tracebacks_are_shortened() -> None:
    source = "def a(n):\n    return b(n + 1)\ndef b(n):\n    return a(n + 1)\na(0)\n"
    outcome = run(source)
    assert isinstance(outcome.error, RecursionError)
    lines = format_script_error(outcome.error, source).splitlines()
    assert len([line for line in lines if line.startswith("  File")]) == 50
    assert any(line.startswith("  ... ") and line.endswith(" more frames ...") for line in lines)
    assert lines[-1] == "RecursionError: maximum recursion depth exceeded"


def test_type_names() -> None:
    source = "import json\njson.loads('{')\n"
    outcome = run(source)
    assert outcome.error is not None
    assert (
        format_script_error(outcome.error)
        .splitlines()[-1]
        .startswith("json.decoder.JSONDecodeError: Expecting property name")
    )


def test_a_str_subclass_message_is_flattened() -> None:
    source = (
        "class S(str):\n    def __format__(self, spec):\n        return 'forged'\n"
        "    def __len__(self):\n        return 0\n"
        "class E(Exception):\n    def __str__(self):\n        return S('real')\n"
        "raise E()\n"
    )
    outcome = run(source)
    assert outcome.error is not None
    assert format_script_error(outcome.error).endswith("E: real")
