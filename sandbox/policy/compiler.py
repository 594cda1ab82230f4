"""Source -> code object under the sandbox policy, or every problem with its position.

Uses RestrictedPython's transformer over ``ast.parse`` and then ``compile`` directly (not
``compile_restricted``, which turns annotations into strings and so breaks ``poe.Doc``).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from types import CodeType

from RestrictedPython.transformer import RestrictingNodeTransformer

FILENAME = "<script>"
MAX_SOURCE_BYTES = 256 * 1024  # SPEC §5


@dataclass(frozen=True)
class Problem:
    line: int
    col: int
    message: str


class SourceRejected(Exception):
    """The source does not compile under the policy; ``problems`` says where and why."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.line}:{p.col}: {p.message}" for p in problems))
        self.problems = problems


class _PositionedTransformer(RestrictingNodeTransformer):
    """Records each refusal with its line and column, not only as 'Line N: ...' text."""

    def __init__(self) -> None:
        super().__init__(errors=[], warnings=[], used_names={})
        self.problems: list[Problem] = []

    def error(self, node: ast.AST, info: str) -> None:
        super().error(node, info)
        line = getattr(node, "lineno", 1) or 1
        col = (getattr(node, "col_offset", 0) or 0) + 1
        self.problems.append(Problem(line, col, info))


def compile_script(source: str) -> CodeType:
    """The script's module code; raises SourceRejected with every problem found."""
    if len(source.encode("utf-8", "surrogatepass")) > MAX_SOURCE_BYTES:
        raise SourceRejected([Problem(1, 1, f"source is larger than {MAX_SOURCE_BYTES} bytes")])
    try:
        tree = ast.parse(source, FILENAME, "exec")
    except SyntaxError as exc:
        raise SourceRejected(
            [Problem(exc.lineno or 1, exc.offset or 1, exc.msg or "invalid syntax")]
        ) from None
    except (ValueError, RecursionError, MemoryError) as exc:  # NUL bytes, absurd nesting
        raise SourceRejected([Problem(1, 1, f"source cannot be parsed: {exc}")]) from None
    transformer = _PositionedTransformer()
    transformer.visit(tree)
    if transformer.problems:
        raise SourceRejected(transformer.problems)
    ast.fix_missing_locations(tree)
    return compile(tree, FILENAME, "exec", dont_inherit=True)


def check_source(source: str) -> list[Problem]:
    """Every problem that would stop ``source`` from running; empty when it compiles."""
    try:
        compile_script(source)
    except SourceRejected as exc:
        return exc.problems
    return []
