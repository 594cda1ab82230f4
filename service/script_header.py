"""``# poe:`` header comments: what a script says about itself in its first comment lines.

Poe reads ``# poe: name=NAME`` (the bot's name when an upload does not give one) and
``# poe: privacy_shield=full|half``; other keys are kept and shown, never an error (Poe may
add keys; a creator's own notes are theirs). Only the leading comment block counts: the
lines before the first line of code. Several pairs may share a line (``# poe: a=1 b=2``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sandbox.policy.compiler import Problem

PRIVACY_SHIELDS = ("full", "half")
_HEADER = re.compile(r"#\s*poe\s*:(.*)", re.IGNORECASE)
_PAIR = re.compile(r"([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*([^\s,;]*)")
MAX_KEYS = 50  # a header is a few lines; more is not a header worth keeping
MAX_VALUE_CHARS = 200


@dataclass(frozen=True)
class ScriptHeader:
    """The ``# poe:`` keys in order of appearance (the first of a repeated key wins), and
    the line of each, for errors at their place."""

    values: dict[str, str] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)

    @property
    def name(self) -> str | None:
        return self.values.get("name") or None

    @property
    def privacy_shield(self) -> str | None:
        return self.values.get("privacy_shield") or None

    def problems(self) -> list[Problem]:
        """What Poe would refuse: a privacy shield other than full or half."""
        shield = self.values.get("privacy_shield")
        if shield is not None and shield not in PRIVACY_SHIELDS:
            line = self.lines["privacy_shield"]
            message = f"privacy_shield must be full or half, not {shield[:40]!r}"
            return [Problem(line, 1, message)]
        return []


def read_header(source: str) -> ScriptHeader:
    values: dict[str, str] = {}
    lines: dict[str, int] = {}
    for number, line in enumerate(source.splitlines()[:500], start=1):
        text = line.strip()
        if number == 1:
            text = text.lstrip("\ufeff")
        if not text:
            continue
        if not text.startswith("#"):
            break  # the first line of code ends the header
        match = _HEADER.match(text)
        if match is None:
            continue
        for key, value in _PAIR.findall(match.group(1)):
            if key not in values and len(values) < MAX_KEYS:
                values[key] = value[:MAX_VALUE_CHARS]
                lines[key] = number
    return ScriptHeader(values, lines)
