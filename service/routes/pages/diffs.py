"""Line diffs of two sources (difflib), as rows of highlighted lines (``listings.py``: each
token escaped by Pygments), never of markup from the sources themselves."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

from markupsafe import Markup

from service.routes.pages.listings import highlighted_lines, source_lines

CONTEXT_LINES = 3
MAX_DIFF_LINES = 20_000  # a diff past this many lines (of a 1 MiB source) is cut: difflib is slow

Kind = Literal["hunk", "same", "added", "removed"]


@dataclass(frozen=True)
class DiffRow:
    kind: Kind
    text: str | Markup
    old_line: int | None = None
    new_line: int | None = None


def diff_rows(old: str, new: str) -> list[DiffRow]:
    """The changes from ``old`` to ``new`` in hunks with a few lines of context."""
    old_lines = source_lines(old)[:MAX_DIFF_LINES] if old else []
    new_lines = source_lines(new)[:MAX_DIFF_LINES] if new else []
    old_shown, new_shown = highlighted_lines(old), highlighted_lines(new)
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    rows: list[DiffRow] = []
    for group in matcher.get_grouped_opcodes(CONTEXT_LINES):
        first, last = group[0], group[-1]
        rows.append(
            DiffRow(
                "hunk",
                f"@@ -{first[1] + 1},{last[2] - first[1]} +{first[3] + 1},{last[4] - first[3]} @@",
            )
        )
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                rows += [
                    DiffRow("same", old_shown[i], i + 1, j1 + (i - i1) + 1) for i in range(i1, i2)
                ]
                continue
            rows += [DiffRow("removed", old_shown[i], old_line=i + 1) for i in range(i1, i2)]
            rows += [DiffRow("added", new_shown[j], new_line=j + 1) for j in range(j1, j2)]
    return rows
