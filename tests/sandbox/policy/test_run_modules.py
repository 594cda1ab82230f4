"""``import poe``: the run's own ``poe`` (Poe's runtime), and nothing more through it."""

from __future__ import annotations

import pytest

from sandbox.policy import compile_script, script_globals
from sandbox.policy.modules import import_hook_for
from tests.sandbox.policy.harness import StandInPoe, refuse_input


class PoeWithState(StandInPoe):
    """A stand-in holding private state, as the real ``poe`` holds its run under ``_rt``."""

    def __init__(self) -> None:
        super().__init__()
        self._rt = "the run's private state"


def run_with_import_hook(source: str, poe: object) -> dict[str, object]:
    script_vars = script_globals(poe=poe, print_function=print, input_function=refuse_input)
    script_vars["__builtins__"]["__import__"] = import_hook_for(poe)  # type: ignore[index]
    exec(compile_script(source), script_vars)
    return script_vars


def test_import_poe_is_the_global_poe() -> None:
    poe = PoeWithState()
    found = run_with_import_hook(
        "import poe as imported\nfrom poe import bot_name, call\nimport json\n"
        "same = imported is poe\nreply = call('Echo', 'hi')\n",
        poe,
    )
    assert found["same"] is True
    assert found["bot_name"] == "TestBot" and found["reply"] == "Echo says hi"
    assert found["json"] is not None  # every other import still goes through the allow-list


def test_from_poe_import_reads_through_the_attribute_guard() -> None:
    poe = PoeWithState()
    hook = import_hook_for(poe)
    view = hook("poe", None, None, ("_rt",), 0)
    read = getattr  # what `from poe import _rt` does with the view, were it compiled
    with pytest.raises(AttributeError, match="private"):
        read(view, "_rt")
    with pytest.raises(AttributeError):
        read(view, "no_such_name")
    assert hook("poe", None, None, None, 0) is poe


def test_poe_is_no_module_for_relative_or_dotted_imports() -> None:
    hook = import_hook_for(PoeWithState())
    with pytest.raises(ImportError, match="relative imports"):
        hook("poe", None, None, None, 1)
    with pytest.raises(ImportError, match=r"'poe\.tools' is not allowed"):
        hook("poe.tools", None, None, None, 0)
    with pytest.raises(ImportError, match="was not loaded"):
        hook("poe", None, None, [], 0)  # C code's lazy import spelling hands out nothing
