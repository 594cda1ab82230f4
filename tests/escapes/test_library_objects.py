"""Public methods of objects the script reaches (pydantic models and their FieldInfo, io
buffers, super objects, the standard library's helper objects) that lead past the guards."""

from __future__ import annotations

import pytest

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
_GENERATOR = (
    "is handed the model's private core schema (bound private methods, the class's own dicts)"
)
_UPDATE = "skips validation, as model_construct: hands the runtime objects of unchecked types"
_UNDECLARED = "lets undeclared keys in: values no field validates, of any type"


_ALLOW_LIST = (
    "pydantic models offer scripts their fields and model_dump, model_dump_json, model_copy, "
    "model_validate, model_validate_json, model_json_schema"
)


def _off_allow_list(cls: str, name: str) -> Stop:
    return Stop("guards", AttributeError,
                f"{cls}.{name} is not available to scripts: {_ALLOW_LIST}")  # fmt: skip


def _io_absent(name: str) -> Stop:
    return Stop("modules", AttributeError,
                f"module 'io' has no attribute {name!r} available to scripts")  # fmt: skip


@pytest.mark.parametrize(
    ("source", "stop"),
    [
        (FIELD_INFO_EVAL, _off_allow_list("PartialResponse", "model_fields")),
        (FIELD_INFO_EVAL_VIA_CONSTRUCTOR, _off_allow_list("PartialResponse", "model_fields")),
        (FIELD_INFO_MERGE, _off_allow_list("PartialResponse", "model_fields")),
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
        (SUPER_UNBOUND_INIT, Stop("guards", AttributeError,
            'cannot initialize a KeyError object again: it is shared')),
    ],
)  # fmt: skip
def test_library_object_paths_are_stopped(source: str, stop: Stop) -> None:
    assert stopped_by(source) == stop


# Pydantic's surface beyond fields and a reviewed handful of methods (the allow-list,
# guards.PYDANTIC_MODEL_METHODS): each of these is refused whatever it does.
# model_fields/model_computed_fields hand out FieldInfo (from_annotation + eval, above).
MODEL_FIELDS = "import fastapi_poe as fp\ninfo = fp.PartialResponse.model_fields\n"
MODEL_FIELDS_COMPUTED_NAME = (
    "import fastapi_poe as fp\ninfo = getattr(fp.PartialResponse, 'model_' + 'fields')\n"
)
MODEL_FIELDS_ON_INSTANCE = "import fastapi_poe as fp\nfp.PartialResponse(text='x').model_fields\n"
MODEL_FIELDS_ON_NESTED_MODEL = (
    "import fastapi_poe as fp\n"
    "t = fp.ToolDefinition(type='function', function={'name': 'f', 'description': 'd',\n"
    "    'parameters': {'type': 'object', 'properties': {}}})\n"
    "info = t.function.model_fields\n"
)
MODEL_FIELDS_THROUGH_SUPER = (
    "import fastapi_poe as fp\n"
    "p = fp.PartialResponse(text='x')\n"
    "info = super(fp.PartialResponse, p).model_fields\n"
)
MODEL_COMPUTED_FIELDS = "import fastapi_poe as fp\nfp.ProtocolMessage.model_computed_fields\n"
# model_config is the class's own dict: shared, and what validation obeys.
MODEL_CONFIG = "import fastapi_poe as fp\nfp.PartialResponse.model_config\n"
# model_fields_set and model_extra are the instance's own (mutable) internals.
MODEL_FIELDS_SET = (
    "import fastapi_poe as fp\nfp.PartialResponse(text='x').model_fields_set.add('index')\n"
)
MODEL_EXTRA = "import fastapi_poe as fp\nfp.ProtocolMessage(role='user', content='x').model_extra\n"
MODEL_REBUILD_ON_INSTANCE = "import fastapi_poe as fp\nfp.PartialResponse(text='x').model_rebuild\n"
MODEL_PARAMETRIZED_NAME = (
    "import fastapi_poe as fp\nfp.PartialResponse.model_parametrized_name((int,))\n"
)
MODEL_POST_INIT = "import fastapi_poe as fp\nfp.PartialResponse(text='x').model_post_init(None)\n"
MODEL_VALIDATE_STRINGS = (
    "import fastapi_poe as fp\nfp.PartialResponse.model_validate_strings({'text': 'x'})\n"
)
SCHEMA_V1 = "import fastapi_poe as fp\nfp.PartialResponse.schema()\n"
SCHEMA_JSON_V1 = "import fastapi_poe as fp\nfp.PartialResponse.schema_json()\n"
VALIDATE_V1 = "import fastapi_poe as fp\nfp.PartialResponse.validate({'text': 'x'})\n"
PARSE_OBJ_V1 = "import fastapi_poe as fp\nfp.PartialResponse.parse_obj({'text': 'x'})\n"
FROM_ORM_V1 = "import fastapi_poe as fp\nfp.PartialResponse.from_orm(poe)\n"
DICT_V1 = "import fastapi_poe as fp\nfp.PartialResponse(text='x').dict()\n"
COPY_V1 = "import fastapi_poe as fp\nfp.PartialResponse(text='x').copy(update={'text': poe})\n"
UPDATE_FORWARD_REFS_ON_INSTANCE = (
    "import fastapi_poe as fp\nfp.ProtocolMessage(role='user', content='x').update_forward_refs()\n"
)
FASTAPI_POE_FROM_DICT = "import fastapi_poe as fp\nfp.PartialResponse.from_dict({'text': 'x'})\n"
GET_PYDANTIC_CORE_SCHEMA = (
    "import fastapi_poe as fp\nf = getattr(fp.PartialResponse, '__get_pydantic_core_schema__')\n"
)
GET_PYDANTIC_JSON_SCHEMA = (
    "import fastapi_poe as fp\nf = getattr(fp.PartialResponse, '__get_pydantic_json_schema__')\n"
)
PYDANTIC_FIELDS = (
    "import fastapi_poe as fp\nf = getattr(fp.PartialResponse, '__pydantic_fields__')\n"
)
# model_validate(from_attributes=True) reads any object's attributes past the guard, and
# extra='allow' lets an undeclared key hold any object (poe) in a shared type.
MODEL_VALIDATE_FROM_ATTRIBUTES = (
    "import fastapi_poe as fp\nfp.Sender.model_validate(poe, from_attributes=True)\n"
)
MODEL_VALIDATE_EXTRA = (
    "import fastapi_poe as fp\n"
    "m = fp.ProtocolMessage.model_validate({'role': 'user', 'content': 'x', 'p': poe},\n"
    "                                      extra='allow')\n"
)
MODEL_VALIDATE_JSON_EXTRA = (
    "import fastapi_poe as fp\n"
    'm = fp.ProtocolMessage.model_validate_json(\'{"role": "user", "content": "x"}\',\n'
    "                                           extra='allow')\n"
)


@pytest.mark.parametrize(
    ("source", "stop"),
    [
        (MODEL_FIELDS, _off_allow_list("PartialResponse", "model_fields")),
        (MODEL_FIELDS_COMPUTED_NAME, _off_allow_list("PartialResponse", "model_fields")),
        (MODEL_FIELDS_ON_INSTANCE, _off_allow_list("PartialResponse", "model_fields")),
        (MODEL_FIELDS_ON_NESTED_MODEL, _off_allow_list("FunctionDefinition", "model_fields")),
        (MODEL_FIELDS_THROUGH_SUPER, _off_allow_list("super", "model_fields")),
        (MODEL_COMPUTED_FIELDS, _off_allow_list("ProtocolMessage", "model_computed_fields")),
        (MODEL_CONFIG, _off_allow_list("PartialResponse", "model_config")),
        (MODEL_FIELDS_SET, _off_allow_list("PartialResponse", "model_fields_set")),
        (MODEL_EXTRA, _off_allow_list("ProtocolMessage", "model_extra")),
        (MODEL_REBUILD_ON_INSTANCE, _off_allow_list("PartialResponse", "model_rebuild")),
        (MODEL_PARAMETRIZED_NAME, _off_allow_list("PartialResponse", "model_parametrized_name")),
        (MODEL_POST_INIT, _off_allow_list("PartialResponse", "model_post_init")),
        (MODEL_VALIDATE_STRINGS, _off_allow_list("PartialResponse", "model_validate_strings")),
        (SCHEMA_V1, _off_allow_list("PartialResponse", "schema")),
        (SCHEMA_JSON_V1, _off_allow_list("PartialResponse", "schema_json")),
        (VALIDATE_V1, _off_allow_list("PartialResponse", "validate")),
        (PARSE_OBJ_V1, _off_allow_list("PartialResponse", "parse_obj")),
        (FROM_ORM_V1, _off_allow_list("PartialResponse", "from_orm")),
        (DICT_V1, _off_allow_list("PartialResponse", "dict")),
        (COPY_V1, _off_allow_list("PartialResponse", "copy")),
        (UPDATE_FORWARD_REFS_ON_INSTANCE, _off_allow_list("ProtocolMessage",
                                                          "update_forward_refs")),
        (FASTAPI_POE_FROM_DICT, _off_allow_list("PartialResponse", "from_dict")),
        (GET_PYDANTIC_CORE_SCHEMA, Stop("guards", AttributeError,
            'PartialResponse.__get_pydantic_core_schema__ is not available to '
            'scripts: pydantic models offer scripts their fields and model_dump, '
            'model_dump_json, model_copy, model_validate, model_validate_json, '
            'model_json_schema')),
        (GET_PYDANTIC_JSON_SCHEMA, Stop("guards", AttributeError,
            'PartialResponse.__get_pydantic_json_schema__ is not available to '
            'scripts: pydantic models offer scripts their fields and model_dump, '
            'model_dump_json, model_copy, model_validate, model_validate_json, '
            'model_json_schema')),
        (PYDANTIC_FIELDS, Stop("guards", AttributeError,
            'PartialResponse.__pydantic_fields__ is not available to scripts: '
            'pydantic models offer scripts their fields and model_dump, '
            'model_dump_json, model_copy, model_validate, model_validate_json, '
            'model_json_schema')),
        (MODEL_VALIDATE_FROM_ATTRIBUTES, Stop("guards", TypeError, "Sender.model_validate("
            "from_attributes=...) is not available to scripts: reads the attributes of any "
            "object, past this guard")),
        (MODEL_VALIDATE_EXTRA, Stop("guards", TypeError, "ProtocolMessage.model_validate("
            f"extra=...) is not available to scripts: {_UNDECLARED}")),
        (MODEL_VALIDATE_JSON_EXTRA, Stop("guards", TypeError, "ProtocolMessage."
            f"model_validate_json(extra=...) is not available to scripts: {_UNDECLARED}")),
    ],
)  # fmt: skip
def test_pydantic_names_off_the_allow_list_are_stopped(source: str, stop: Stop) -> None:
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
        (GENERATOR_YIELDFROM, Stop("guards", AttributeError,
            'generator.gi_yieldfrom is not available to scripts: leads to frames '
            'or code, and from there to real globals')),
        (STATICMETHOD_FUNC, Stop("guards", AttributeError,
            'staticmethod.__func__ is not available to scripts: the function under '
            'a method or decorator')),
        (BOUND_METHOD_SELF, Stop("guards", AttributeError,
            'method.__self__ is not available to scripts: the object a method is '
            'bound to (print.__self__ is the builtins module)')),
        (FORWARD_REF_IN_ALIAS, Stop("guards", AttributeError,
            'ForwardRef._evaluate is not available to scripts: private to the '
            'runtime or library that made it')),
        (EXCEPTION_TRACEBACK, Stop("guards", AttributeError,
            '"__traceback__" is not available to scripts: tracebacks lead to frames')),
        (ENUM_FUNCTIONAL_DUNDER, Stop("guards", ValueError,
            "enum member names in scripts must be public strings: '__getattr__'")),
        (MRO_ENTRIES_TO_TYPE, Stop("guards", TypeError,
                                   "class A: scripts cannot define metaclasses")),
    ],
)  # fmt: skip
def test_library_object_paths_already_refused(source: str, stop: Stop) -> None:
    assert stopped_by(source) == stop


def test_everyday_uses_of_these_objects_still_work() -> None:
    source = (
        "import fastapi_poe as fp, io\n"
        "p = fp.PartialResponse(text='x')\n"
        "print(p.model_copy(update=None).text, p.model_copy(deep=True).text,\n"
        "      fp.PartialResponse.model_json_schema(mode='serialization')['title'],\n"
        "      io.BytesIO(b'abc').getvalue())\n"
        "class B(Exception):\n"
        "    def __init__(self, why):\n        super().__init__(why)\n"
        "print(B('ok').args)\n"
    )
    assert stopped_by(source) == Stop("", None, "x x PartialResponse b'abc'\n('ok',)\n")
