"""Run script source under the policy with a stand-in ``poe`` and a list-appending print.

The policy does not depend on the real runtime: ``poe`` here is any object, ``print`` a
function that records its calls. ``stopped_by`` tells which layer refused a source.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.policy import SourceRejected, compile_script, script_globals, warm_up
from sandbox.policy.namespace import BUILTINS_DENIED

warm_up()  # as the template process does, so lazy imports find their modules

_POLICY_DIR = Path(compile_script.__code__.co_filename).parent


class StandInPoe:
    """Enough of ``poe`` for policy tests: a name, and an object the script must not change."""

    bot_name = "TestBot"

    def __init__(self) -> None:
        self.calls: list[str] = []
        self._mood = "calm"

    @property
    def mood(self) -> str:
        """A property with a setter: the script may read it, never set it."""
        return self._mood

    @mood.setter
    def mood(self, value: str) -> None:
        self._mood = value

    def call(self, bot_name: str, *prompts: object) -> str:
        self.calls.append(bot_name)
        return f"{bot_name} says hi"


@dataclass
class Outcome:
    """What a run did: each print call, the error it ended with, its globals."""

    prints: list[tuple[tuple[Any, ...], dict[str, Any]]] = field(default_factory=list)
    error: BaseException | None = None
    globals: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The printed text, as print would have written it."""
        parts = []
        for objects, kwargs in self.prints:
            sep, end = kwargs.get("sep", " "), kwargs.get("end", "\n")
            parts.append(sep.join(str(o) for o in objects) + end)
        return "".join(parts)


def refuse_input(*args: object) -> Any:
    raise NotImplementedError("input() is not supported in script bots")


def run(source: str, *, poe: object | None = None) -> Outcome:
    """Compile and run ``source``; compile problems raise SourceRejected, run errors are kept."""
    outcome = Outcome()
    code = compile_script(source)

    def record(*objects: Any, **kwargs: Any) -> None:
        outcome.prints.append((objects, kwargs))

    outcome.globals = script_globals(
        poe=StandInPoe() if poe is None else poe,
        print_function=record,
        input_function=refuse_input,
    )
    try:
        exec(code, outcome.globals)
    except BaseException as exc:  # the child's edge: scripts may raise SystemExit too
        outcome.error = exc
    return outcome


def ok(source: str, **kwargs: Any) -> Outcome:
    """Run ``source`` and insist it ended without an error."""
    outcome = run(source, **kwargs)
    if outcome.error is not None:
        raise AssertionError("".join(traceback.format_exception(outcome.error))) from outcome.error
    return outcome


@dataclass(frozen=True)
class Stop:
    """Who stopped a hostile source: layer, exception type, message."""

    # "compiler", "guards" or "modules" (the policy module that raised), "builtins" (a
    # denied builtin is missing), "script" (raised in the script's own line, e.g. by C
    # code refusing a stand-in), "library:<file>", or "" when nothing stopped it.
    layer: str
    error: type[BaseException] | None
    message: str


def stopped_by(source: str) -> Stop:
    """Which restricted layer stopped ``source`` (its innermost frame names the module)."""
    try:
        outcome = run(source)
    except SourceRejected as exc:
        return Stop("compiler", SourceRejected, "; ".join(p.message for p in exc.problems))
    exc = outcome.error
    if exc is None:
        return Stop("", None, outcome.text)
    layer = "script"
    if isinstance(exc, NameError) and exc.name in BUILTINS_DENIED:
        layer = "builtins"
    else:
        tb = exc.__traceback__.tb_next  # skip run()'s own frame
        while tb is not None:
            filename = tb.tb_frame.f_code.co_filename
            path = Path(filename)
            if filename == "<script>":
                layer = "script"
            elif path.parent == _POLICY_DIR:
                layer = path.stem
            else:
                layer = f"library:{path.name}"
            tb = tb.tb_next
    return Stop(layer, type(exc), str(exc))
