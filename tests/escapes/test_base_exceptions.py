"""SystemExit, KeyboardInterrupt, GeneratorExit: raisable, and stopped by the caller only."""

from __future__ import annotations

import pytest

from sandbox.policy import format_script_error
from tests.sandbox.policy.harness import Stop, run, stopped_by

SYSTEM_EXIT = "raise SystemExit(3)\n"
KEYBOARD_INTERRUPT = "raise KeyboardInterrupt\n"
GENERATOR_EXIT = "raise GeneratorExit('bye')\n"
EXIT_FROM_A_GENERATOR = "def g():\n    yield 1\n    raise SystemExit\nlist(g())\n"
CATCH_ALL = (
    "try:\n    raise SystemExit(1)\nexcept BaseException as e:\n    print(type(e).__name__)\n"
)


@pytest.mark.parametrize(
    ("source", "error", "message"),
    [
        (SYSTEM_EXIT, SystemExit, "3"),
        (KEYBOARD_INTERRUPT, KeyboardInterrupt, ""),
        (GENERATOR_EXIT, GeneratorExit, "bye"),
        (EXIT_FROM_A_GENERATOR, SystemExit, ""),
    ],
)
def test_base_exceptions_reach_the_caller_as_plain_exceptions(
    source: str, error: type[BaseException], message: str
) -> None:
    # The harness catches BaseException, as the sandbox child must: this process lives on.
    assert stopped_by(source) == Stop("script", error, message)
    outcome = run(source)
    assert outcome.error is not None
    text = format_script_error(outcome.error, source)
    assert text.startswith('Traceback (most recent call last):\n  File "<script>", line ')
    assert text.endswith(error.__name__ + (f": {message}" if message else ""))


def test_scripts_may_catch_them_too() -> None:
    assert stopped_by(CATCH_ALL) == Stop("", None, "SystemExit\n")
