"""Settings extraction: which sources need a settings run when saved, and what it executes.

Poe runs a saved script up to, not including, its ``if __name__ == "__main__":`` block, so
that ``poe.update_settings(...)`` above it sets the bot's settings. A script without that
block and without ``update_settings`` has nothing to extract: it is not run at save time (its
top-level code is the query's code). Pure functions of the source; no I/O.
"""

from __future__ import annotations

import ast
import re

#: ``__name__`` in a settings run: anything but "__main__" skips the main block.
SETTINGS_RUN_NAME = "__poe_settings__"
_NEWLINE = re.compile(r"\r\n|\r|\n")  # the parser's line ends (not str.splitlines' many)


def _is_main_guard(node: ast.stmt) -> bool:
    """``if __name__ == "__main__":`` (either side of the ``==``)."""
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    test = node.test
    if len(test.ops) != 1 or not isinstance(test.ops[0], ast.Eq):
        return False
    sides = [test.left, test.comparators[0]]
    names = [s for s in sides if isinstance(s, ast.Name) and s.id == "__name__"]
    mains = [s for s in sides if isinstance(s, ast.Constant) and s.value == "__main__"]
    return len(names) == 1 and len(mains) == 1


def main_guard_line(source: str) -> int | None:
    """The line of the first top-level ``if __name__ == "__main__":``, or None."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return next((node.lineno for node in tree.body if _is_main_guard(node)), None)


def needs_settings_run(source: str) -> bool:
    """Whether saving ``source`` runs it for its settings (a main block or update_settings)."""
    return "update_settings" in source or main_guard_line(source) is not None


def settings_run_source(source: str) -> str:
    """What a settings run executes: ``source`` up to its main block (all of it without one).
    Lines keep their numbers, so errors point at the creator's lines."""
    line = main_guard_line(source)
    if line is None:
        return source
    offset = 0
    for _ in range(line - 1):
        newline = _NEWLINE.search(source, offset)
        if newline is None:  # pragma: no cover  # the parser counted this many lines
            return source
        offset = newline.end()
    return source[:offset]
