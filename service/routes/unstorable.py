"""What in a request cannot be stored and sent back as it came, found before it reaches
the database (SPEC §5: a bad request is a 4xx, never a 500)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

Problem = Literal["surrogate", "depth", "values"]


def find_unstorable(
    value: Any, max_depth: int | None = None, max_values: int | None = None
) -> Problem | None:
    """``surrogate`` for a lone surrogate in any text or key (neither storable nor encodable
    as UTF-8), ``depth`` for nesting past ``max_depth``, ``values`` for more than
    ``max_values`` values and keys in all (so that what validates the value next has a
    bounded amount to do); None when all of ``value`` is fine.

    A loop over an explicit stack, not recursion: plain Python, so a thread running it
    hands the interpreter back to the event loop every few milliseconds."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    values = 1  # counted when found, so the stack never holds more than max_values
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    return "surrogate"
            continue
        if isinstance(item, BaseModel):
            # Python mode: JSON mode would already have turned a lone surrogate in a dict
            # key into U+FFFD, and the text would be stored changed instead of refused.
            stack.append((item.model_dump(), depth + 1))
            continue
        if not isinstance(item, dict | list | tuple) or not item:
            continue
        if max_depth is not None and depth >= max_depth:
            return "depth"
        values += 2 * len(item) if isinstance(item, dict) else len(item)
        if max_values is not None and values > max_values:
            return "values"
        children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children)
    return None
