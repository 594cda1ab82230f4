"""Public methods of objects the script reaches (pydantic models and their FieldInfo, io
buffers, super objects, the standard library's helper objects) that lead past the guards."""

from __future__ import annotations

import pytest

from sandbox.policy import SourceRejected
from tests.sandbox.policy.harness import Stop, stopped_by

# FieldInfo.apply_typevars_map evaluates the annotation (a string, or a ForwardRef inside a
# generic alias) with eval, in globals the caller passes: {} gets the real builtins.
FIELD_INFO_EVAL = (
    "import fastapi_poe as fp\n"
    "info = fp.PartialResponse.model_fields['text']\n"
    "new = info.from_annotation(\"__import__('os').getpid()\")\n"
    "new.apply_typevars_map(None, {})\n"
)
FIELD_INFO_EVAL_VIA_CONSTRUCTOR = (
    "import fastapi_poe as fp, typing\n"
    "FieldInfo = type(fp.PartialResponse.model_fields['text'])\n"
    'new = FieldInfo(annotation=typing.List["().__class__.__base__.__subclasses__()"])\n'
    "new.apply_typevars_map({}, {})\n"
)
FIELD_INFO_MERGE = (
    "import fastapi_poe as fp\n"
    "info = fp.PartialResponse.model_fields['text']\n"
    "info.merge_field_infos(info, annotation='os')\n"
)
# model_json_schema(schema_generator=G) calls G(...).generate(cls.__pydantic_core_schema__):
# the private core schema, with bound private methods and the class's own (shared) dicts.
SCHEMA_GENERATOR = (
    "import fastapi_poe as fp\n"
    "class G:\n"
    "    def __init__(self, **kw):\n        pass\n"
    "    def generate(self, schema, mode='validation'):\n"
    "        print(schema['definitions'][0]['metadata'])\n"
    "        return {}\n"
    "fp.ProtocolMessage.model_json_schema(schema_generator=G)\n"
)
SCHEMA_GENERATOR_POSITIONAL = (
    "import fastapi_poe as fp\n"
    "class G:\n"
    "    def __init__(self, **kw):\n        pass\n"
    "    def generate(self, schema, mode='validation'):\n        return schema\n"
    "fp.PartialResponse(text='x').model_json_schema(True, '#/$defs/{model}', G)\n"
)
# model_copy(update=...) skips validation, as model_construct does: a str field holding poe.
MODEL_COPY_UPDATE = (
    "import fastapi_poe as fp\np = fp.PartialResponse(text='x').model_copy(update={'text': poe})\n"
)
MODEL_COPY_UPDATE_UNBOUND = (
    "import fastapi_poe as fp\n"
    "p = fp.PartialResponse.model_copy(fp.PartialResponse(text='x'), update={'text': poe})\n"
)
# A memoryview, which the builtins deny, through BytesIO.
BYTESIO_GETBUFFER = "import io\nview = io.BytesIO(b'abc').getbuffer()\n"
# super(S, S) is the unbound form: its __init__ is the base class's plain function, which
# re-initialises any object of that base, runtime objects included (past _write_).
SUPER_UNBOUND_INIT = (
    "class S(Exception):\n    pass\n"
    "init = super(S, S).__init__\n"
    "e = KeyError('kept')\n"
    "init(e, 'forged')\n"
    "print(e.args)\n"
)
# io.BufferedReader hands a script's raw stream a writable memoryview of its own buffer and
# never releases it: kept past the reader's end, it writes into freed heap memory.
BUFFERED_READER_FREED_BUFFER = (
    "import io\n"
    "kept = []\n"
    "class Raw(io.RawIOBase):\n"
    "    def readable(self):\n        return True\n"
    "    def readinto(self, b):\n        kept.append(b)\n        return 0\n"
    "r = io.BufferedReader(Raw(), 4096)\n"
    "r.read(1)\n"
    "del r\n"
    "io.BytesIO(b'Z' * 4096).readinto(kept[0])\n"
)
BUFFERED_WRITER = "from io import BufferedWriter\n"
BUFFERED_RANDOM = "import io\nio.BufferedRandom\n"
BUFFERED_PAIR = "import io\nio.BufferedRWPair\n"
SUPER_WITHOUT_OBJECT = "class S:\n    pass\ninit = getattr(super(S), '__init__')\n"

_PRIVATE = '"{}" is not available to scripts: names starting with "_" are private'
_FIELD_INFO = (
    "builds or re-evaluates field annotations: apply_typevars_map evaluates strings with eval"
)
_GENERATOR = (
    "is handed the model's private core schema (bound private methods, the class's own dicts)"
)
_UPDATE = "skips validation, as model_construct: hands the runtime objects of unchecked types"


def _field_info(name: str) -> Stop:
    return Stop("guards", AttributeError,
                f"FieldInfo.{name} is not available to scripts: {_FIELD_INFO}")  # fmt: skip


def _io_absent(name: str) -> Stop:
    return Stop("modules", AttributeError,
                f"module 'io' has no attribute {name!r} available to scripts")  # fmt: skip


@pytest.mark.parametrize(
    ("source", "stop"),
    [
        (FIELD_INFO_EVAL, _field_info("from_annotation")),
        (FIELD_INFO_EVAL_VIA_CONSTRUCTOR, _field_info("apply_typevars_map")),
        (FIELD_INFO_MERGE, _field_info("merge_field_infos")),
        (SCHEMA_GENERATOR, Stop("guards", TypeError, "PartialResponse.model_json_schema("
            f"schema_generator=...) is not available to scripts: {_GENERATOR}".replace(
                "PartialResponse", "ProtocolMessage"))),
        (SCHEMA_GENERATOR_POSITIONAL, Stop("guards", TypeError, "PartialResponse."
            f"model_json_schema(schema_generator=...) is not available to scripts: {_GENERATOR}")),
        (MODEL_COPY_UPDATE, Stop("guards", TypeError, "PartialResponse.model_copy(update=...) "
                                 f"is not available to scripts: {_UPDATE}")),
        (MODEL_COPY_UPDATE_UNBOUND, Stop("guards", TypeError, "PartialResponse.model_copy("
                                         f"update=...) is not available to scripts: {_UPDATE}")),
        (BYTESIO_GETBUFFER, Stop("guards", AttributeError, "BytesIO.getbuffer is not available "
            "to scripts: a memoryview, as the denied builtin")),
        (BUFFERED_READER_FREED_BUFFER, _io_absent("BufferedReader")),
        (BUFFERED_WRITER, Stop("script", ImportError, "cannot import name 'BufferedWriter' "
            "from '<unknown module name>' (unknown location)")),
        (BUFFERED_RANDOM, _io_absent("BufferedRandom")),
        (BUFFERED_PAIR, _io_absent("BufferedRWPair")),
        (SUPER_UNBOUND_INIT, Stop("guards", AttributeError, _PRIVATE.format("__init__"))),
        (SUPER_WITHOUT_OBJECT, Stop("guards", AttributeError, _PRIVATE.format("__init__"))),
    ],
)  # fmt: skip
def test_library_object_paths_are_stopped(source: str, stop: Stop) -> None:
    assert stopped_by(source) == stop


# Already refused, kept as coverage: each is a path an attacker would try next.
GENERATOR_YIELDFROM = (
    "def g():\n    yield 1\ndef h():\n    yield from g()\nx = h()\nnext(x)\ny = x.gi_yieldfrom\n"
)
STATICMETHOD_FUNC = "sm = staticmethod(print)\nf = getattr(sm, '__func__')\n"
BOUND_METHOD_SELF = "f = getattr(poe.call, '__self__')\n"
NAMEDTUPLE_PRIVATE = "import collections\nN = collections.namedtuple('N', 'a')\nN._make\n"
TYPEVAR_BOUND = "import typing\nT = typing.TypeVar('T', bound='os')\nb = getattr(T, '__bound__')\n"
FORWARD_REF_IN_ALIAS = (
    "import typing\nref = typing.get_args(typing.List['os'])[0]\nx = getattr(ref, '_evaluate')\n"
)
EXCEPTION_TRACEBACK = (
    "try:\n    1 / 0\nexcept Exception as e:\n    tb = getattr(e, '__traceback__')\n"
)
ENUM_FUNCTIONAL_DUNDER = "import enum\nE = enum.Enum('E', [('__getattr__', 1)])\n"
CLASS_HOOK_IN_BODY = "class A:\n    def __init_subclass__(cls):\n        pass\n"
CLASS_GETITEM_IN_BODY = "class A:\n    def __class_getitem__(cls, x):\n        pass\n"
SET_NAME_BY_ASSIGNMENT = "def f(*a):\n    pass\nclass A:\n    __set_name__ = f\n"
MRO_ENTRIES_TO_TYPE = "import typing\nclass A(typing.Type[int]):\n    pass\n"


@pytest.mark.parametrize(
    ("source", "stop"),
    [
        (GENERATOR_YIELDFROM, Stop("compiler", SourceRejected, '"gi_yieldfrom" is a restricted '
            "name, that is forbidden to access in RestrictedPython.")),
        (STATICMETHOD_FUNC, Stop("guards", AttributeError, _PRIVATE.format("__func__"))),
        (BOUND_METHOD_SELF, Stop("guards", AttributeError, _PRIVATE.format("__self__"))),
        (NAMEDTUPLE_PRIVATE, Stop("compiler", SourceRejected,
            '"_make" is an invalid attribute name because it starts with "_".')),
        (TYPEVAR_BOUND, Stop("guards", AttributeError, _PRIVATE.format("__bound__"))),
        (FORWARD_REF_IN_ALIAS, Stop("guards", AttributeError, _PRIVATE.format("_evaluate"))),
        (EXCEPTION_TRACEBACK, Stop("guards", AttributeError, _PRIVATE.format("__traceback__"))),
        (ENUM_FUNCTIONAL_DUNDER, Stop("guards", ValueError,
            "enum member names in scripts must be public strings: '__getattr__'")),
        (CLASS_HOOK_IN_BODY, Stop("compiler", SourceRejected, '"__init_subclass__" is an '
            'invalid variable name because it starts with "_"')),
        (CLASS_GETITEM_IN_BODY, Stop("compiler", SourceRejected, '"__class_getitem__" is an '
            'invalid variable name because it starts with "_"')),
        (SET_NAME_BY_ASSIGNMENT, Stop("compiler", SourceRejected, '"__set_name__" is an '
            'invalid variable name because it starts with "_"')),
        (MRO_ENTRIES_TO_TYPE, Stop("guards", TypeError,
                                   "class A: scripts cannot define metaclasses")),
    ],
)  # fmt: skip
def test_library_object_paths_already_refused(source: str, stop: Stop) -> None:
    assert stopped_by(source) == stop


def test_everyday_uses_of_these_objects_still_work() -> None:
    source = (
        "import fastapi_poe as fp, io\n"
        "info = fp.PartialResponse.model_fields['text']\n"
        "p = fp.PartialResponse(text='x')\n"
        "print(info.is_required(), p.model_copy(update=None).text, p.model_copy(deep=True).text,\n"
        "      fp.PartialResponse.model_json_schema(mode='serialization')['title'],\n"
        "      io.BytesIO(b'abc').getvalue())\n"
        "class B(Exception):\n"
        "    def __init__(self, why):\n        super().__init__(why)\n"
        "print(B('ok').args)\n"
    )
    assert stopped_by(source) == Stop("", None, "True x x PartialResponse b'abc'\n('ok',)\n")
