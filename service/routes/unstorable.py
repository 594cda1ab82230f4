"""What in a request cannot be stored and sent back as it came, found before it reaches
the database (SPEC §5: a bad request is a 4xx, never a 500)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

Problem = Literal["surrogate", "depth"]


def find_unstorable(value: Any, max_depth: int | None = None, depth: int = 0) -> Problem | None:
    """``surrogate`` for a lone surrogate in any text or key (neither storable nor encodable
    as UTF-8), ``depth`` for nesting past ``max_depth``; None when all of ``value`` is fine."""
    if max_depth is not None and depth > max_depth:
        return "depth"
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "surrogate"
        return None
    items: Any = ()
    if isinstance(value, dict):
        items = [*value.keys(), *value.values()]
    elif isinstance(value, list | tuple):
        items = value
    elif isinstance(value, BaseModel):
        # Python mode: JSON mode would already have turned a lone surrogate in a dict key
        # into U+FFFD, and the text would be stored changed instead of refused.
        items = (value.model_dump(),)
    for item in items:
        problem = find_unstorable(item, max_depth, depth + 1)
        if problem:
            return problem
    return None
