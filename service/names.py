"""The naming rule for scripts and creators (SPEC §5): they appear in URLs, so keep them plain."""

from __future__ import annotations

import re

from service.errors import InvalidName

NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{2,39}$"
NAME_RULE = "3 to 40 letters, digits, '-' or '_', starting with a letter"
_NAME = re.compile(NAME_PATTERN)


def is_valid_name(name: str) -> bool:
    return _NAME.fullmatch(name) is not None


def check_name(name: str, what: str = "script") -> str:
    """``name`` unchanged when it follows the rule; otherwise InvalidName saying the rule."""
    if not is_valid_name(name):
        raise InvalidName(f"A {what} name must be {NAME_RULE}; got {name[:60]!r}.")
    return name


def name_key(name: str) -> str:
    """The form under which names are unique: case-insensitive (ASCII only, by the rule)."""
    return name.lower()
