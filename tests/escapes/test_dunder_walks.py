"""Dunder walks: from any object to object.__subclasses__, function globals, builtins, code."""

from __future__ import annotations

import pytest

from sandbox.policy import SourceRejected
from tests.sandbox.policy.harness import Stop, stopped_by

SUBCLASSES_WALK = "x = ().__class__.__bases__[0].__subclasses__()\n"
SUBCLASSES_COMPUTED = (
    "c = getattr((), '__cl' + 'ass__')\nb = getattr(c, '__base__')\n"
    "x = getattr(b, '__subclasses__')()\n"
)
SUBCLASSES_VIA_MRO = "root = int.mro()[-1]\nx = getattr(root, '__subclasses__')()\n"
SUBCLASSES_OF_OBJECT = "x = getattr(object, '__subclasses__')()\n"
SUBCLASSES_VIA_SUPER = (
    "class A:\n    def m(self):\n        return getattr(super(), '__subclasses__')()\nA().m()\n"
)
SUBCLASSES_VIA_TWO_ARG_SUPER = "x = getattr(super(int, int), '__subclasses__')\n"
FUNCTION_GLOBALS = "def f():\n    pass\ng = f.__globals__\n"
FUNCTION_GLOBALS_COMPUTED = "def f():\n    pass\ng = getattr(f, '__glo' + 'bals__')\n"
RUNTIME_GLOBALS = "g = getattr(poe.call, '__func__')\n"
BUILTINS_NAME = "b = __builtins__\n"
BUILTINS_OF_A_MODULE = "import json\nb = getattr(json.dumps, '__builtins__')\n"
CODE_OBJECT = "def f():\n    pass\nc = f.__code__\n"
INSTANCE_DICT = "class A:\n    pass\nd = A().__dict__\n"
CLASS_DICT_OF_SHARED_CLASS = "d = getattr(str, '__dict__')\n"
SUPER_INIT_OF_SHARED_OBJECT = "again = getattr(super(type(poe), poe), '__init__')\n"
CLOSURE_CELLS = "def f():\n    x = 1\n    return lambda: x\nc = getattr(f(), '__closure__')\n"
MODULE_DUNDER = "import json\nx = getattr(json, '__loader__')\n"

_PRIVATE = '"{}" is not available to scripts: names starting with "_" are private'


@pytest.mark.parametrize(
    ("source", "stop"),
    [
        (SUBCLASSES_WALK, Stop("compiler", SourceRejected,
            '"__subclasses__" is an invalid attribute name because it starts with "_".; '
            '"__bases__" is an invalid attribute name because it starts with "_".; '
            '"__class__" is an invalid attribute name because it starts with "_".')),
        (SUBCLASSES_COMPUTED, Stop("guards", AttributeError, _PRIVATE.format("__class__"))),
        (SUBCLASSES_VIA_MRO, Stop("guards", AttributeError, "int.mro is not available to "
            "scripts: hands out base classes: the real enum.Enum, pydantic.BaseModel, object")),
        (SUBCLASSES_OF_OBJECT, Stop("guards", AttributeError, _PRIVATE.format("__subclasses__"))),
        (SUBCLASSES_VIA_SUPER, Stop("guards", AttributeError,
                                    _PRIVATE.format("__subclasses__"))),
        (SUBCLASSES_VIA_TWO_ARG_SUPER, Stop("guards", AttributeError,
                                            _PRIVATE.format("__subclasses__"))),
        (FUNCTION_GLOBALS, Stop("compiler", SourceRejected,
            '"__globals__" is an invalid attribute name because it starts with "_".')),
        (FUNCTION_GLOBALS_COMPUTED, Stop("guards", AttributeError,
                                         _PRIVATE.format("__globals__"))),
        (RUNTIME_GLOBALS, Stop("guards", AttributeError, _PRIVATE.format("__func__"))),
        (BUILTINS_NAME, Stop("compiler", SourceRejected,
            '"__builtins__" is an invalid variable name because it starts with "_"')),
        (BUILTINS_OF_A_MODULE, Stop("guards", AttributeError, _PRIVATE.format("__builtins__"))),
        (CODE_OBJECT, Stop("compiler", SourceRejected,
            '"__code__" is an invalid attribute name because it starts with "_".')),
        (INSTANCE_DICT, Stop("compiler", SourceRejected,
            '"__dict__" is an invalid attribute name because it starts with "_".')),
        (CLASS_DICT_OF_SHARED_CLASS, Stop("guards", AttributeError, _PRIVATE.format("__dict__"))),
        (SUPER_INIT_OF_SHARED_OBJECT, Stop("guards", AttributeError, _PRIVATE.format("__init__"))),
        (CLOSURE_CELLS, Stop("guards", AttributeError, _PRIVATE.format("__closure__"))),
        (MODULE_DUNDER, Stop("guards", AttributeError, _PRIVATE.format("__loader__"))),
    ],
)  # fmt: skip
def test_dunder_walks_are_stopped(source: str, stop: Stop) -> None:
    assert stopped_by(source) == stop


def test_super_dunders_work_only_for_the_scripts_own_classes() -> None:
    source = (
        "class A:\n    def __init__(self):\n        super().__init__()\n        self.ok = True\n"
        "class B(A):\n    def __init__(self):\n        super().__init__()\n"
        "print(B().ok)\n"
    )
    assert stopped_by(source) == Stop("", None, "True\n")
