"""getattr/hasattr with computed names, and str subclasses that lie about what they are."""

from __future__ import annotations

import pytest

from tests.sandbox.policy.harness import Stop, stopped_by

LYING_STR = (
    "class S(str):\n"
    "    def __eq__(self, other):\n        return True\n"
    "    def __hash__(self):\n        return hash('upper')\n"
    "    def startswith(self, prefix):\n        return False\n"
)
GETATTR_WITH_LYING_NAME = LYING_STR + "x = getattr(1, S('__class__'))\n"
HASATTR_WITH_LYING_NAME = LYING_STR + "x = hasattr(1, S('__class__'))\n"
SETATTR_WITH_LYING_NAME = LYING_STR + "class A:\n    pass\nsetattr(A(), S('__class__'), int)\n"
KEYWORDS_WITH_LYING_NAME = (
    "class S(str):\n    def startswith(self, prefix):\n        return False\n"
    "x = dict(**{S('_private'): 1})\n"
)
IMPORT_WITH_COMPUTED_NAME = "m = __import__('o' + 's')\n"
CHARS_JOINED = "name = ''.join(['_', '_', 'class', '_', '_'])\nx = getattr(1, name)\n"
HASATTR_PROBE = "print(hasattr(1, '__class__'), hasattr(1, 'real'))\n"
GETATTR_DEFAULT = "print(getattr(1, '__class__', 'refused'))\n"
VARS_AND_DIR = "x = dir(poe)\n"

_TYPE = "attribute name must be a string, not 'S'"


@pytest.mark.parametrize(
    ("source", "stop"),
    [
        (GETATTR_WITH_LYING_NAME, Stop("guards", TypeError, _TYPE)),
        (HASATTR_WITH_LYING_NAME, Stop("guards", TypeError, _TYPE)),
        (SETATTR_WITH_LYING_NAME, Stop("guards", TypeError, _TYPE)),
    ],
)  # fmt: skip
def test_computed_names_are_checked_as_written(source: str, stop: Stop) -> None:
    assert stopped_by(source) == stop
