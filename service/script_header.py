"""``# poe:`` header comments: what a script says about itself in its first comment lines.

Poe reads ``# poe: name=NAME`` (the bot's name when an upload does not give one) and
``# poe: privacy_shield=full|half``. Here a script may also ask for a shorter time limit
than the operator's (``timeout_s``, whole seconds; the operator's figure is the most it
gets). Other keys are kept and shown, never an error (Poe may add keys; a creator's own
notes are theirs). Only the leading comment block counts: the lines before the first line
of code. Several pairs may share a line (``# poe: a=1 b=2``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sandbox import Problem

PRIVACY_SHIELDS = ("full", "half")
_HEADER = re.compile(r"#\s*poe\s*:(.*)", re.IGNORECASE)
_PAIR = re.compile(r"([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*([^\s,;]*)")
MAX_KEYS = 50  # a header is a few lines; more is not a header worth keeping
MAX_VALUE_CHARS = 200
# The limits a script may lower for itself (`RUN_TIMEOUT_S`). CPU and memory stay the
# operator's: a child's are set before its run is known (spare children wait with them).
LIMIT_KEYS = ("timeout_s",)
_WHOLE_NUMBER = re.compile(r"[1-9][0-9]{0,8}")


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

    @property
    def limits(self) -> dict[str, int]:
        """The limits the script asks for (``LIMIT_KEYS`` with a whole number)."""
        return {
            key: int(value)
            for key in LIMIT_KEYS
            if _WHOLE_NUMBER.fullmatch(value := self.values.get(key, ""))
        }

    def problems(self) -> list[Problem]:
        """What cannot run: a privacy shield other than full or half (Poe refuses it too),
        a limit that is not a whole number of at least 1."""
        problems = []
        shield = self.values.get("privacy_shield")
        if shield is not None and shield not in PRIVACY_SHIELDS:
            message = f"privacy_shield must be full or half, not {shield[:40]!r}"
            problems.append(Problem(self.lines["privacy_shield"], 1, message))
        for key in LIMIT_KEYS:
            value = self.values.get(key)
            if value is not None and not _WHOLE_NUMBER.fullmatch(value):
                message = f"{key} must be a whole number of at least 1, not {value[:40]!r}"
                problems.append(Problem(self.lines[key], 1, message))
        return problems


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
