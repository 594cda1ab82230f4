"""Denied builtins, and making classes past the class hook (type(), metaclasses)."""

from __future__ import annotations

import fastapi_poe as fp
import pytest

from sandbox.policy import SourceRejected
from tests.sandbox.policy.harness import Stop, stopped_by

# Reading host files is the OS layer's to refuse (tests/escapes_os/test_scratch.py,
# test_files.py): open() takes names; descriptors are the sandbox's (fd 3: the channel).
OPEN_DESCRIPTOR = "open(3, 'rb').read()\n"
OPEN_WITH_OPENER = "open('x', 'w', opener=lambda path, flags: 3)\n"
IO_OPEN_DESCRIPTOR = "import io\nio.open(3, 'wb').write(b'frame')\n"
CODECS_OPEN_DESCRIPTOR = "import codecs\ncodecs.open(3)\n"
EVAL = "x = eval('1')\n"
EVAL_BY_OTHER_NAME = "e = eval\n"
EXEC_BY_OTHER_NAME = "e = exec\n"
COMPILE = "compile('1', 'x', 'eval')\n"
GLOBALS = "g = globals()\n"
LOCALS = "l = locals()\n"
VARS = "v = vars(poe)\n"
DIR = "d = dir(poe)\n"
BREAKPOINT = "breakpoint()\n"
MEMORYVIEW = "m = memoryview(b'x')\n"
EXIT = "exit()\n"
INPUT = "input('x')\n"
GC = "import gc\ngc.get_objects()\n"
_BY_NAME = (
    "{} takes a file name in scripts, not int: descriptors belong to the sandbox (the "
    "channel to the host is one)"
)

# Three-argument type() makes a class past __metaclass__; with a pydantic base, pydantic
# evaluates the string annotation with eval and the real builtins (see the test below).
PYDANTIC_TYPE_CALL = (
    "import fastapi_poe as fp\n"
    "M = type('M', (fp.PartialResponse,), {'__annotations__': {'x': '__import__(\"os\")'}})\n"
)
TYPE_OF_TYPE = "meta = type(type(1))\nM = meta('M', (), {})\n"
TYPE_OF_MODEL_CLASS = (
    "import fastapi_poe as fp\nmeta = type(fp.PartialResponse)\nmeta('M', (), {})\n"
)
TYPE_VIA_TYPING_ORIGIN = "import typing\nreal = typing.get_origin(typing.Type)\nreal('M', (), {})\n"
TYPE_VIA_TYPING_ARGS = (
    "import typing\nreal = typing.get_args(typing.Type[type])[0]\nreal('M', (), {})\n"
)
TYPE_ALIAS_CALL = "M = type[int]('M', (), {})\n"
METACLASS_KEYWORD = "class M(metaclass=type):\n    pass\n"
METACLASS_BY_SUBCLASSING_TYPE = "import typing\nclass Meta(typing.Type):\n    pass\n"
PYDANTIC_SUBCLASS = (
    "import fastapi_poe as fp\n"
    'class M(fp.PartialResponse):\n    x: list[\'__import__("os").system("id")\'] = []\n'
)
PYDANTIC_BASE_VIA_MRO = (
    "import fastapi_poe as fp\nBase = fp.PartialResponse.mro()[1]\nclass M(Base):\n    pass\n"
)
ENUM_WITH_MODEL_MIXIN = (
    "import enum, fastapi_poe as fp\nE = enum.Enum('E', 'A', type=fp.PartialResponse)\n"
)
ENUM_FUNCTIONAL_DUNDERS = (
    "import enum\ndef lie(self, name):\n    return 'anything'\n"
    "E = enum.Enum('E', {'A': 1, '__getattribute__': lie})\n"
)
ENUM_FUNCTIONAL_ON_OWN_BASE = (
    "import enum\nclass Base(enum.Enum):\n    pass\nE = Base('E', [('A', 1), ('__class__', str)])\n"
)
ENUM_FUNCTIONAL_LYING_NAME = (
    "import enum\nclass S(str):\n    def startswith(self, p):\n        return False\n"
    "E = enum.Flag('E', [S('__init_subclass__')])\n"
)
REAL_ENUM_VIA_UUID = "import uuid\nE = uuid.Enum('E', {'__getattr__': print})\n"
SUBCLASSES_VIA_SUPER_OF_TYPE = "x = super(type, int).__subclasses__\n"


@pytest.mark.parametrize(
    ("source", "stop"),
    [
        (OPEN_DESCRIPTOR, Stop("checked", TypeError, _BY_NAME.format("open()"))),
        (OPEN_WITH_OPENER, Stop("checked", TypeError,
            "open(opener=...) is not available in scripts")),
        (IO_OPEN_DESCRIPTOR, Stop("checked", TypeError, _BY_NAME.format("open()"))),
        (CODECS_OPEN_DESCRIPTOR, Stop("checked", TypeError, _BY_NAME.format("codecs.open()"))),
        (EVAL, Stop("compiler", SourceRejected, "Eval calls are not allowed.")),
        (EVAL_BY_OTHER_NAME, Stop("builtins", NameError, "name 'eval' is not defined")),
        (EXEC_BY_OTHER_NAME, Stop("builtins", NameError, "name 'exec' is not defined")),
        (COMPILE, Stop("builtins", NameError, "name 'compile' is not defined")),
        (VARS, Stop("namespace", TypeError,
            'vars() argument: StandInPoe.__dict__ is not available to scripts: '
            "another object's private state (vars() reads it too)")),
        (BREAKPOINT, Stop("builtins", NameError, "name 'breakpoint' is not defined")),
        (MEMORYVIEW, Stop("builtins", NameError, "name 'memoryview' is not defined")),
        (EXIT, Stop("builtins", NameError, "name 'exit' is not defined")),
        (INPUT, Stop("library:harness.py", NotImplementedError,
                     "input() is not supported in script bots")),
        (GC, Stop("modules", ImportError, "import of 'gc' is not allowed in scripts: reaches "
            "the interpreter's internals (frames, modules, import machinery); the README, "
            'section "What a script can import", lists what scripts can import')),
        (PYDANTIC_TYPE_CALL, Stop("guards", TypeError,
            'class M: cannot derive from classes with metaclass ModelMetaclass in '
            'scripts')),
        (TYPE_ALIAS_CALL, Stop("library:typing.py", TypeError,
            "Type Type cannot be instantiated; use type() instead")),
        (METACLASS_KEYWORD, Stop("compiler", SourceRejected,
            'The keyword argument "metaclass" is not allowed.')),
        (METACLASS_BY_SUBCLASSING_TYPE, Stop("guards", TypeError,
            "class Meta: scripts cannot define metaclasses")),
        (PYDANTIC_SUBCLASS, Stop("guards", TypeError,
            "class M: cannot derive from classes with metaclass ModelMetaclass in scripts")),
        (PYDANTIC_BASE_VIA_MRO, Stop("guards", AttributeError,
            'PartialResponse.mro is not available to scripts: hands out base '
            'classes: the real enum.Enum, pydantic.BaseModel (whose metaclass '
            "evaluates strings), typing's internals")),
        (ENUM_WITH_MODEL_MIXIN, Stop("library:enum.py", TypeError,
            "metaclass conflict: the metaclass of a derived class must be a (non-strict) "
            "subclass of the metaclasses of all its bases")),
        (ENUM_FUNCTIONAL_DUNDERS, Stop("guards", ValueError,
            "enum member names in scripts must be public strings: '__getattribute__'")),
        (ENUM_FUNCTIONAL_ON_OWN_BASE, Stop("guards", ValueError,
            "enum member names in scripts must be public strings: '__class__'")),
        (ENUM_FUNCTIONAL_LYING_NAME, Stop("guards", ValueError,
            "enum member names in scripts must be public strings: '__init_subclass__'")),
        (REAL_ENUM_VIA_UUID, Stop("modules", AttributeError,
            "module 'uuid' has no attribute 'Enum' available to scripts")),
        (SUBCLASSES_VIA_SUPER_OF_TYPE, Stop("script", TypeError,
            'super() argument 1 must be a type, not _ScriptType')),
    ],
)  # fmt: skip
def test_denied_builtins_and_class_tricks_are_stopped(source: str, stop: Stop) -> None:
    assert stopped_by(source) == stop


def test_why_three_argument_type_must_stay_out_of_reach() -> None:
    """Outside the sandbox: pydantic runs eval on a string annotation, with real builtins."""
    namespace = {"__annotations__": {"x": "__import__('os').getpid()"}, "__module__": "nowhere"}
    with pytest.raises(Exception, match="schema-for-unknown-type"):
        type("M", (fp.PartialResponse,), namespace)  # the error names the eval'd pid
