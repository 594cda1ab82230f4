"""Frames: through generators, coroutines, async generators and tracebacks, to f_globals."""

from __future__ import annotations

import pytest

from sandbox.policy import SourceRejected
from tests.sandbox.policy.harness import Stop, stopped_by

GENERATOR_FRAME = "def g():\n    yield 1\nf = g().gi_frame\n"
GENERATOR_FRAME_COMPUTED = "def g():\n    yield 1\nf = getattr(g(), 'gi_' + 'frame')\n"
GENERATOR_CODE = "def g():\n    yield 1\nc = getattr(g(), 'gi_code')\n"
GENERATOR_EXPRESSION_FRAME = "f = getattr((x for x in []), 'gi_frame')\n"
YIELD_FROM = "def g():\n    yield from h()\nx = getattr(g(), 'gi_yieldfrom')\n"
COROUTINE = "async def c():\n    pass\nf = c().cr_frame\n"
ASYNC_GENERATOR = "async def a():\n    yield 1\nf = a().ag_frame\n"
COROUTINE_FRAME_COMPUTED = "f = getattr(poe, 'cr_' + 'frame')\n"
TRACEBACK = "try:\n    1 / 0\nexcept Exception as e:\n    tb = e.__traceback__\n"
TRACEBACK_COMPUTED = (
    "try:\n    1 / 0\nexcept Exception as e:\n    tb = getattr(e, '__trace' + 'back__')\n"
)
TRACEBACK_FRAME = "def walk(tb):\n    return tb.tb_frame.f_back.f_globals\n"
FRAME_WALK_COMPUTED = "x = getattr(poe, 'f_' + 'back')\n"
CONTEXT_OF_EXCEPTION = (
    "try:\n    1 / 0\nexcept Exception as e:\n    ctx = getattr(e, '__context__')\n"
)

_FRAMES = '"{}" is not available to scripts: it leads to frames or code'
_PRIVATE = '"{}" is not available to scripts: names starting with "_" are private'


def _restricted(name: str) -> str:
    return f'"{name}" is a restricted name, that is forbidden to access in RestrictedPython.'


@pytest.mark.parametrize(
    ("source", "stop"),
    [
        (GENERATOR_FRAME, Stop("compiler", SourceRejected, _restricted("gi_frame"))),
        (GENERATOR_FRAME_COMPUTED, Stop("guards", AttributeError, _FRAMES.format("gi_frame"))),
        (GENERATOR_CODE, Stop("guards", AttributeError, _FRAMES.format("gi_code"))),
        (GENERATOR_EXPRESSION_FRAME, Stop("guards", AttributeError, _FRAMES.format("gi_frame"))),
        (YIELD_FROM, Stop("guards", AttributeError, _FRAMES.format("gi_yieldfrom"))),
        (COROUTINE, Stop("compiler", SourceRejected,
            "AsyncFunctionDef statements are not allowed.; " + _restricted("cr_frame"))),
        (ASYNC_GENERATOR, Stop("compiler", SourceRejected,
            "AsyncFunctionDef statements are not allowed.; " + _restricted("ag_frame"))),
        (COROUTINE_FRAME_COMPUTED, Stop("guards", AttributeError, _FRAMES.format("cr_frame"))),
        (TRACEBACK, Stop("compiler", SourceRejected,
            '"__traceback__" is an invalid attribute name because it starts with "_".')),
        (TRACEBACK_COMPUTED, Stop("guards", AttributeError, _PRIVATE.format("__traceback__"))),
        (TRACEBACK_FRAME, Stop("compiler", SourceRejected, "; ".join(
            _restricted(n) for n in ("f_globals", "f_back", "tb_frame")))),
        (FRAME_WALK_COMPUTED, Stop("guards", AttributeError, _FRAMES.format("f_back"))),
        (CONTEXT_OF_EXCEPTION, Stop("guards", AttributeError, _PRIVATE.format("__context__"))),
    ],
)  # fmt: skip
def test_frame_walks_are_stopped(source: str, stop: Stop) -> None:
    assert stopped_by(source) == stop
