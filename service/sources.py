"""What the service checks and learns from a script's source before storing a version."""

from __future__ import annotations

import ast
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sandbox.policy.compiler import MAX_SOURCE_BYTES, Problem, check_source
from service.errors import SourceRejected, SourceTooLarge
from service.script_header import ScriptHeader, read_header

_BOT_CALLS = frozenset({"call", "stream"})  # poe.call / poe.stream take the bot name first


@dataclass(frozen=True)
class CheckedSource:
    """A source fit to store, and what the service learnt from it. ``settings``: what its
    ``poe.update_settings`` set in the settings run at save time (None: it set none)."""

    source: str
    size: int
    bot_dependencies: dict[str, int]
    dynamic_bot_calls: int = 0  # poe.call/poe.stream sites whose bot name is computed
    header: ScriptHeader = field(default_factory=ScriptHeader)
    settings: dict[str, Any] | None = None


def check_script_source(source: str) -> CheckedSource:
    """The source with its size and bot calls; SourceTooLarge or SourceRejected otherwise."""
    try:
        size = len(source.encode("utf-8"))
    except UnicodeEncodeError:
        raise SourceRejected([Problem(1, 1, "source is not valid UTF-8")]) from None
    if size > MAX_SOURCE_BYTES:
        raise SourceTooLarge(size, MAX_SOURCE_BYTES)
    header = read_header(source)
    problems = check_source(source) + header.problems()
    if problems:
        raise SourceRejected(problems)
    literal, dynamic = bot_call_sites(source)
    return CheckedSource(source, size, literal, dynamic, header)


def infer_bot_dependencies(source: str) -> dict[str, int]:
    """``{bot: call sites}`` for ``poe.call("X", ...)`` / ``poe.stream("X", ...)`` with literal X.

    This is Poe's ``server_bot_dependencies`` default (SPEC §5); names computed at run time
    cannot be known and are left out. The leading "@" is stripped, as poe.call does.
    """
    return bot_call_sites(source)[0]


def bot_call_sites(source: str) -> tuple[dict[str, int], int]:
    """Literal bot names with their call sites, and the number of sites naming no literal."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return {}, 0
    counts: Counter[str] = Counter()
    dynamic = 0
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
        else:
            dynamic += 1
    return dict(counts), dynamic


def _literal_bot_name(call: ast.Call) -> str | None:
    candidates = [call.args[0]] if call.args else []
    candidates += [k.value for k in call.keywords if k.arg == "bot_name"]
    for node in candidates:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value.removeprefix("@") or None
    return None
