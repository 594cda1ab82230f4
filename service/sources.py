"""What the service checks and learns from a script's source before storing a version."""

from __future__ import annotations

import ast
from collections import Counter
from dataclasses import dataclass

from sandbox.policy.compiler import MAX_SOURCE_BYTES, Problem, check_source
from service.errors import SourceRejected, SourceTooLarge

_BOT_CALLS = frozenset({"call", "stream"})  # poe.call / poe.stream take the bot name first


@dataclass(frozen=True)
class CheckedSource:
    source: str
    size: int
    bot_dependencies: dict[str, int]


def check_script_source(source: str) -> CheckedSource:
    """The source with its size and bot calls; SourceTooLarge or SourceRejected otherwise."""
    try:
        size = len(source.encode("utf-8"))
    except UnicodeEncodeError:
        raise SourceRejected([Problem(1, 1, "source is not valid UTF-8")]) from None
    if size > MAX_SOURCE_BYTES:
        raise SourceTooLarge(size, MAX_SOURCE_BYTES)
    problems = check_source(source)
    if problems:
        raise SourceRejected(problems)
    return CheckedSource(source, size, infer_bot_dependencies(source))


def infer_bot_dependencies(source: str) -> dict[str, int]:
    """``{bot: call sites}`` for ``poe.call("X", ...)`` / ``poe.stream("X", ...)`` with literal X.

    This is Poe's ``server_bot_dependencies`` default (SPEC §5); names computed at run time
    cannot be known and are left out. The leading "@" is stripped, as poe.call does.
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return {}
    counts: Counter[str] = Counter()
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _BOT_CALLS
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "poe"
        ):
            continue
        name = _literal_bot_name(node)
        if name:
            counts[name] += 1
    return dict(counts)


def _literal_bot_name(call: ast.Call) -> str | None:
    candidates = [call.args[0]] if call.args else []
    candidates += [k.value for k in call.keywords if k.arg == "bot_name"]
    for node in candidates:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value.removeprefix("@") or None
    return None
