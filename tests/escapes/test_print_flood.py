"""A print flood goes to the chat one call at a time: nothing accumulates in the sandbox."""

from __future__ import annotations

import contextlib

from sandbox.policy import compile_script, script_globals
from sandbox.policy.namespace import ChatPrint

PRINT_FLOOD = "for i in range(200_000):\n    print('x' * 100)\nraise RuntimeError('after')\n"
PRINTED_READ = "print('a')\nx = printed\n"


def test_print_flood_is_forwarded_call_by_call() -> None:
    seen = {"calls": 0, "chars": 0}

    def chat_print(*objects: object, **kwargs: object) -> None:
        seen["calls"] += 1
        seen["chars"] += sum(len(str(o)) for o in objects)

    g = script_globals(poe=None, print_function=chat_print, input_function=input)
    with contextlib.suppress(RuntimeError):
        exec(compile_script(PRINT_FLOOD), g)
    # Every line reached the chat before the error: the printer kept none of it.
    assert seen == {"calls": 200_000, "chars": 20_000_000}
    printer = g["__builtins__"]["_print_"]
    assert isinstance(printer, ChatPrint)
    assert ChatPrint.__slots__ == ("_print_function",)


def test_printed_is_no_buffer() -> None:
    g = script_globals(poe=None, print_function=lambda *a, **k: None, input_function=input)
    try:
        exec(compile_script(PRINTED_READ), g)
    except NameError as exc:
        assert str(exc) == "name 'printed' is not defined"
    else:
        raise AssertionError("printed must be an ordinary (here undefined) name")
