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
        (SUBCLASSES_WALK, Stop("guards", AttributeError,
            'tuple.__bases__ is not available to scripts: hands out base classes: '
            'the real enum.Enum, pydantic.BaseModel (whose metaclass evaluates '
            "strings), typing's internals")),
        (SUBCLASSES_COMPUTED, Stop("guards", AttributeError,
            'tuple.__base__ is not available to scripts: hands out base classes: '
            'the real enum.Enum, pydantic.BaseModel (whose metaclass evaluates '
            "strings), typing's internals")),
        (SUBCLASSES_VIA_MRO, Stop("guards", AttributeError,
            'int.mro is not available to scripts: hands out base classes: the real '
            'enum.Enum, pydantic.BaseModel (whose metaclass evaluates strings), '
            "typing's internals")),
        (SUBCLASSES_OF_OBJECT, Stop("guards", AttributeError,
            'object.__subclasses__ is not available to scripts: every subclass in '
            "the process, the runtime's own among them")),
        (SUBCLASSES_VIA_SUPER, Stop("guards", AttributeError,
            'super.__subclasses__ is not available to scripts: every subclass in '
            "the process, the runtime's own among them")),
        (SUBCLASSES_VIA_TWO_ARG_SUPER, Stop("guards", AttributeError,
            'super.__subclasses__ is not available to scripts: every subclass in '
            "the process, the runtime's own among them")),
        (RUNTIME_GLOBALS, Stop("guards", AttributeError,
            'method.__func__ is not available to scripts: the function under a '
            'method or decorator')),
        (BUILTINS_NAME, Stop("compiler", SourceRejected,
            '"__builtins__" is reserved: the run\'s builtins, the guards among them')),
        (BUILTINS_OF_A_MODULE, Stop("guards", AttributeError,
            "function.__builtins__ is not available to scripts: a function's real "
            'builtins')),
        (CODE_OBJECT, Stop("guards", AttributeError,
            'function.__code__ is not available to scripts: a code object can be '
            'made into a function that skips the compiler')),
        (CLASS_DICT_OF_SHARED_CLASS, Stop("guards", AttributeError,
            "str.__dict__ is not available to scripts: another object's private "
            'state (vars() reads it too)')),
        (MODULE_DUNDER, Stop("guards", AttributeError,
            'module.__loader__ is not available to scripts: the import machinery')),
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
