"""Frames: through generators, coroutines, async generators and tracebacks, to f_globals."""

from __future__ import annotations

import pytest

from tests.sandbox.policy.harness import Stop, stopped_by

GENERATOR_FRAME = "def g():\n    yield 1\nf = g().gi_frame\n"
GENERATOR_FRAME_COMPUTED = "def g():\n    yield 1\nf = getattr(g(), 'gi_' + 'frame')\n"
GENERATOR_CODE = "def g():\n    yield 1\nc = getattr(g(), 'gi_code')\n"
GENERATOR_EXPRESSION_FRAME = "f = getattr((x for x in []), 'gi_frame')\n"
YIELD_FROM = "def g():\n    yield from h()\nx = getattr(g(), 'gi_yieldfrom')\n"
COROUTINE = (
    "async def c():\n    pass\nco = c()\ntry:\n    f = co.cr_frame\nfinally:\n    co.close()\n"
)
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
        (GENERATOR_FRAME, Stop("guards", AttributeError,
            'generator.gi_frame is not available to scripts: leads to frames or '
            'code, and from there to real globals')),
        (GENERATOR_FRAME_COMPUTED, Stop("guards", AttributeError,
            'generator.gi_frame is not available to scripts: leads to frames or '
            'code, and from there to real globals')),
        (GENERATOR_CODE, Stop("guards", AttributeError,
            'generator.gi_code is not available to scripts: leads to frames or '
            'code, and from there to real globals')),
        (GENERATOR_EXPRESSION_FRAME, Stop("guards", AttributeError,
            'generator.gi_frame is not available to scripts: leads to frames or '
            'code, and from there to real globals')),
        (YIELD_FROM, Stop("guards", AttributeError,
            'generator.gi_yieldfrom is not available to scripts: leads to frames '
            'or code, and from there to real globals')),
        (COROUTINE, Stop("guards", AttributeError,
            'coroutine.cr_frame is not available to scripts: leads to frames or '
            'code, and from there to real globals')),
        (ASYNC_GENERATOR, Stop("guards", AttributeError,
            'async_generator.ag_frame is not available to scripts: leads to frames '
            'or code, and from there to real globals')),
        (COROUTINE_FRAME_COMPUTED, Stop("guards", AttributeError,
            'StandInPoe.cr_frame is not available to scripts: leads to frames or '
            'code, and from there to real globals')),
        (TRACEBACK, Stop("guards", AttributeError,
            '"__traceback__" is not available to scripts: tracebacks lead to frames')),
        (TRACEBACK_COMPUTED, Stop("guards", AttributeError,
            '"__traceback__" is not available to scripts: tracebacks lead to frames')),
        (FRAME_WALK_COMPUTED, Stop("guards", AttributeError,
            'StandInPoe.f_back is not available to scripts: leads to frames or '
            'code, and from there to real globals')),
    ],
)  # fmt: skip
def test_frame_walks_are_stopped(source: str, stop: Stop) -> None:
    assert stopped_by(source) == stop
