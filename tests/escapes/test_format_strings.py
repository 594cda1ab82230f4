"""str.format / format_map / string.Formatter: format fields that walk attributes."""

from __future__ import annotations

import pytest

from tests.sandbox.policy.harness import Stop, stopped_by

FORMAT_FIELD_WALK = "x = '{0.__class__.__base__.__subclasses__}'.format(1)\n"
FORMAT_UNBOUND = "x = str.format('{0.__class__}', 1)\n"
FORMAT_COMPUTED = "x = getattr('{0.__class__}', 'for' + 'mat')(1)\n"
FORMAT_MAP = "x = '{a.__class__}'.format_map({'a': 1})\n"
FORMAT_ON_STR_SUBCLASS = "class S(str):\n    pass\nx = S('{0.__class__}').format(1)\n"
FORMAT_THROUGH_SUPER = (
    "class S(str):\n    pass\ns = S('{0.__class__}')\nx = super(S, s).format(1)\n"
)
FORMAT_OF_A_MESSAGE_TEXT = "x = poe.bot_name.format\n"
STRING_FORMATTER = "import string\nf = string.Formatter()\n"
STRING_FORMATTER_FROM = "from string import Formatter\n"
F_STRING_FIELDS_ARE_COMPILED = "x = f'{(1).__class__}'\n"
FORMAT_BUILTIN_SPEC = "x = format(1, '{0.__class__}')\n"
# collections.UserString is no str, but its format and format_map call str.format.
USER_STRING_FORMAT = (
    "import collections\n"
    "x = collections.UserString('{0.__class__.__base__.__subclasses__}').format(1)\n"
)
USER_STRING_FORMAT_MAP = (
    "import collections\nx = collections.UserString('{a.__class__}').format_map({'a': 1})\n"
)
USER_STRING_SUBCLASS_UNBOUND = (
    "import collections\nclass U(collections.UserString):\n    pass\n"
    "x = U.format(U('{0.__class__}'), 1)\n"
)

_STR = "str.{} is not available to scripts: "


@pytest.mark.parametrize(
    ("source", "stop"),
    [
        (FORMAT_FIELD_WALK, Stop("guards", AttributeError,
            'int.__base__ is not available to scripts: hands out base classes: the '
            'real enum.Enum, pydantic.BaseModel (whose metaclass evaluates '
            "strings), typing's internals")),
        (USER_STRING_FORMAT, Stop("guards", AttributeError,
            'int.__base__ is not available to scripts: hands out base classes: the '
            'real enum.Enum, pydantic.BaseModel (whose metaclass evaluates '
            "strings), typing's internals")),
        (FORMAT_BUILTIN_SPEC, Stop("script", ValueError,
            "Invalid format specifier '{0.__class__}' for object of type 'int'")),
    ],
)  # fmt: skip
def test_format_walks_are_stopped(source: str, stop: Stop) -> None:
    assert stopped_by(source) == stop


def test_formatting_that_does_not_walk_works() -> None:
    source = (
        "import string\nname = 'Ann'\n"
        "print(f'{name!r:>8}', '%s is %d' % (name, 3), format(3.14159, '.2f'),\n"
        "      string.Template('$who').substitute(who=name))\n"
    )
    assert stopped_by(source) == Stop("", None, "   'Ann' Ann is 3 3.14 Ann\n")
