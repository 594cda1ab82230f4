"""script_globals with the real ``poe`` runtime: what the sandbox child will run."""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.poe.memory import MemoryPort
from sandbox.poe.parallel import Pool
from sandbox.poe.response import Response
from sandbox.poe.runtime import Runtime
from sandbox.poe.tools import Doc
from sandbox.policy import SourceRejected, compile_script, format_script_error, script_globals
from sandbox.policy.checked import open_file
from sandbox.policy.guards import guarded_getattr
from sandbox.policy.namespace import BUILTINS_AS_IS, BUILTINS_DENIED, BUILTINS_WRAPPED
from tests.sandbox.poe.harness import Run, echo_bot, new_run
from tests.sandbox.policy.harness import Outcome, ok, run


@pytest.fixture
def poe_run() -> Iterator[Run]:
    run = new_run({"Echo": echo_bot})
    yield run
    run.ns.finish()


def execute(run: Run, source: str) -> Outcome:
    outcome = Outcome()
    outcome.globals = script_globals(
        poe=run.ns.poe, print_function=run.ns.print, input_function=run.ns.input
    )
    try:
        exec(compile_script(source), outcome.globals)
    except BaseException as exc:
        outcome.error = exc
    return outcome


def chat_texts(run: Run) -> list[str]:
    return [m.text.rstrip("\n") for m in run.ns.poe.default_chat.new_messages()]


def test_globals_hold_poe_and_restricted_builtins_only() -> None:
    g = script_globals(poe="POE", print_function=print, input_function=input)
    assert set(g) == {"__builtins__", "__name__", "poe"}
    assert (g["poe"], g["__name__"]) == ("POE", "__main__")
    assert g["__builtins__"]["open"] is open_file  # files by name (checked.py)
    again = script_globals(poe="POE", print_function=print, input_function=input)
    assert again["__builtins__"] is not g["__builtins__"]  # fresh per run


def test_a_script_bot_runs_under_the_policy(poe_run: Run) -> None:
    source = (
        "import json\n"
        "def get_weather(city: poe.Doc[str, 'City name']) -> str:\n"
        "    '''Weather of a city.'''\n"
        "    return json.dumps({'city': city})\n"
        "reply = poe.call('Echo', 'hello there')\n"
        "print(reply.last.text)\n"
        "chat = poe.Chat('first')\n"
        "chat += 'second'\n"
        "print(len(chat), poe.bot_name)\n"
        "results = poe.parallel(lambda: 1, lambda: 2)\n"
        "print(results)\n"
        "with poe.start_message() as msg:\n"
        "    msg.write('streamed')\n"
    )
    outcome = execute(poe_run, source)
    assert outcome.error is None, format_script_error(outcome.error, source)
    assert chat_texts(poe_run) == ["echo: hello there", "2 ScriptBot", "[1, 2]", "streamed"]
    annotation = outcome.globals["get_weather"].__annotations__["city"]
    assert isinstance(annotation, Doc)
    assert (annotation.type, annotation.description) == (str, "City name")


def test_input_raises_not_implemented(poe_run: Run) -> None:
    outcome = execute(poe_run, "input('name?')\n")
    assert isinstance(outcome.error, NotImplementedError)


@pytest.mark.parametrize(
    "source",
    [
        "poe._rt\n",
        "getattr(poe, '_rt')\n",
        "poe.default_chat._messages\n",
        "poe.call = None\n",
        "poe.default_chat += 'x'\n",
        "type(poe.default_chat).quiet = False\n",
    ],
)
def test_the_runtime_state_is_out_of_reach(poe_run: Run, source: str) -> None:
    outcome = execute(poe_run, source)
    assert isinstance(outcome.error, SourceRejected | AttributeError | TypeError)


def _reachable(root: object, depth: int) -> Iterator[object]:
    """Every object reachable from ``root`` by public attribute reads the guard allows."""
    seen: set[int] = set()
    frontier = [root]
    for _ in range(depth):
        following = []
        for ob in frontier:
            if id(ob) in seen or isinstance(ob, str | int | float | bool | bytes | type(None)):
                continue
            seen.add(id(ob))
            yield ob
            for name in dir(ob):
                if name.startswith("_"):
                    continue
                try:
                    following.append(guarded_getattr(ob, name))
                except Exception:  # properties may raise (poe.query without a query)
                    continue
        frontier = following


def test_no_public_path_leads_from_poe_to_the_port(poe_run: Run) -> None:
    execute(poe_run, "print('hi')\nm = poe.Message(text='x')\n")
    private: Any = (MemoryPort, Runtime, Response, Pool)
    leaks = [ob for ob in _reachable(poe_run.ns.poe, 4) if isinstance(ob, private)]
    assert leaks == []


# -- _print_ -----------------------------------------------------------------------------


def test_print_forwards_each_call_as_made() -> None:
    outcome = ok(
        "import io\nprint('a', 1, sep='-', end='!')\nprint()\nout = print\nout('via name')\n"
        "buf = io.StringIO()\nprint('kept', file=buf)\nkept = buf.getvalue()\n"
        "def f():\n    print('in f')\nf()\n"
    )
    calls = [(args, kwargs) for args, kwargs in outcome.prints if "file" not in kwargs]
    assert calls == [
        (("a", 1), {"sep": "-", "end": "!"}),
        ((), {}),
        (("via name",), {}),
        (("in f",), {}),
    ]


def test_print_to_a_file_object_goes_through_the_attribute_guard() -> None:
    outcome = run("class W:\n    pass\nprint('x', file=W())\n")
    assert isinstance(outcome.error, AttributeError)


# -- builtins ----------------------------------------------------------------------------


def test_every_builtin_is_reviewed() -> None:
    reviewed = (
        {name for names in BUILTINS_AS_IS.values() for name in names}
        | set(BUILTINS_WRAPPED)
        | set(BUILTINS_DENIED)
    )
    exceptions = {
        name
        for name, value in vars(builtins).items()
        if isinstance(value, type) and issubclass(value, BaseException)
    }
    assert set(vars(builtins)) - exceptions - reviewed == set()


def test_denied_builtins_are_missing() -> None:
    for name in ("eval", "exec", "compile", "memoryview", "breakpoint", "help"):
        outcome = run(f"{name}\n")
        assert isinstance(outcome.error, NameError), name


def test_wrapped_builtins_behave_like_the_originals() -> None:
    outcome = ok(
        "out = [\n"
        "    sorted([3, 1, 2], key=lambda v: -v, reverse=True),\n"
        "    min([3, 1]), min(3, 1), max([], default=7), max('ab', 'c', key=len),\n"
        "    sum([1, 2], 10), any(x > 1 for x in [1, 2]), all([]),\n"
        "    list(map(lambda a, b: a + b, [1, 2], [10, 20])), list(filter(None, [0, 1])),\n"
        "    list(zip('ab', [1, 2], strict=True)), list(enumerate('ab', 1)),\n"
        "    list(reversed([1, 2])), next(iter([5])), list(iter(lambda: 1, 1)),\n"
        "]\n"
    )
    assert outcome.globals["out"] == [
        [1, 2, 3], 1, 1, 7, "ab", 13, True, True, [11, 22], [1],
        [("a", 1), ("b", 2)], [(1, "a"), (2, "b")], [2, 1], 5, [],
    ]  # fmt: skip


def test_input_is_the_runtime_one() -> None:
    outcome = run("input('name?')\n")
    assert isinstance(outcome.error, NotImplementedError)
