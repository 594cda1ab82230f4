"""Line diffs of two sources (difflib), as rows a template prints escaped, never as markup."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

CONTEXT_LINES = 3
MAX_DIFF_LINES = 20_000  # a diff past this many lines (of a 1 MiB source) is cut: difflib is slow

Kind = Literal["hunk", "same", "added", "removed"]


@dataclass(frozen=True)
class DiffRow:
    kind: Kind
    text: str
    old_line: int | None = None
    new_line: int | None = None


def diff_rows(old: str, new: str) -> list[DiffRow]:
    """The changes from ``old`` to ``new`` in hunks with a few lines of context."""
    old_lines = old.splitlines()[:MAX_DIFF_LINES]
    new_lines = new.splitlines()[:MAX_DIFF_LINES]
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
                    DiffRow("same", old_lines[i], i + 1, j1 + (i - i1) + 1) for i in range(i1, i2)
                ]
                continue
            rows += [DiffRow("removed", old_lines[i], old_line=i + 1) for i in range(i1, i2)]
            rows += [DiffRow("added", new_lines[j], new_line=j + 1) for j in range(j1, j2)]
    return rows
