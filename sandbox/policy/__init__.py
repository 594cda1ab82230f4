"""The restricted layer: what a script may write (compiler) and reach at run time (guards,
modules). The first wall only: the OS isolation around the process is the second (SPEC §8).

    exec(compile_script(source), script_globals(poe=..., print_function=..., input_function=...))
"""

from __future__ import annotations

from sandbox.policy.compiler import (
    MAX_SOURCE_BYTES,
    Problem,
    SourceRejected,
    check_source,
    compile_script,
)
from sandbox.policy.errors import format_script_error
from sandbox.policy.modules import PREIMPORT
from sandbox.policy.namespace import script_globals, warm_up

__all__ = [
    "MAX_SOURCE_BYTES",
    "PREIMPORT",
    "Problem",
    "SourceRejected",
    "check_source",
    "compile_script",
    "format_script_error",
    "script_globals",
    "warm_up",
]
