"""The red team's restricted-layer findings (issue 11), one mechanism each.

Each source reached past a guard before the fix; each now stops at the layer named."""

from __future__ import annotations

import pytest

from sandbox.policy.guards import DENIED_ATTRIBUTES, DENIED_EVERYWHERE, OWN_OBJECTS_ONLY
from tests.sandbox.policy.harness import Stop, stopped_by

_PYDANTIC = (
    "is not available to scripts: pydantic models offer scripts their fields and model_dump, "
    "model_dump_json, model_copy, model_validate, model_validate_json, model_json_schema"
)


def _model(owner: str, name: str) -> Stop:
    return Stop("guards", AttributeError, f"{owner}.{name} {_PYDANTIC}")


def _refused(owner: str, name: str, reason: str) -> Stop:
    return Stop("guards", AttributeError, f"{owner}.{name} is not available to scripts: {reason}")


# -- typing aliases forward attribute reads to what they wrap ----------------------------

ALIAS_MODEL_FIELDS = (
    "import typing, fastapi_poe as fp\n"
    "fields = typing.Annotated[fp.ProtocolMessage, 0].model_fields\n"
)
ALIAS_FIELD_INFO = (
    "import typing, fastapi_poe as fp\n"
    "info = type(typing.Annotated[fp.ProtocolMessage, 0].model_fields['content'])\n"
)
ALIAS_MRO = "import typing\nbases = typing.Annotated[int, 0].mro()\n"
ALIAS_IN_FORMAT_FIELD = "import typing\nx = '{0.mro}'.format(typing.Annotated[int, 0])\n"
ALIAS_ABC_REGISTER = (
    "import typing, collections.abc\n"
    "class C:\n    pass\n"
    "typing.Annotated[collections.abc.Sequence, 0].register(C)\n"
)
ALIAS_PARSE_RAW = (
    "import typing, fastapi_poe as fp\n"
    "load = typing.Optional[typing.Annotated[fp.PartialResponse, 0]].__args__[0].parse_raw\n"
)
GENERIC_ALIAS_MODEL = (
    "import fastapi_poe as fp\n"
    "GenericAlias = type(list[int])\n"
    "x = GenericAlias(fp.PartialResponse, (int,)).model_construct\n"
)
GENERIC_ALIAS_DICT = "x = dict[str, int].__dict__\n"
ALIAS_BY_HAND = (
    "import typing, fastapi_poe as fp\n"
    "alias = typing.Annotated[fp.ProtocolMessage, 0]\n"
    "x = alias.__getattr__('model_fields')\n"
)
ALIAS_THROUGH_ATTRGETTER = (
    "import typing, operator, fastapi_poe as fp\n"
    "x = operator.attrgetter('model_fields')(typing.Annotated[fp.ProtocolMessage, 0])\n"
)
ALIAS_THROUGH_METHODCALLER = (
    "import typing, operator, fastapi_poe as fp\n"
    "x = operator.methodcaller('model_construct')(typing.Annotated[fp.PartialResponse, 0])\n"
)

# -- source builders: names spliced into exec'd code ---------------------------------------

TYPEDDICT_KEY_INTO_DATACLASS = (
    "import typing, dataclasses\n"
    "T = typing.TypedDict('T', {\"x=print('pwned') or 1\": int})\n"
    "class C(T):\n    pass\n"
    "dataclasses.dataclass(C)\n"
)
TYPE_NAMESPACE_ANNOTATION_INTO_DATACLASS = (
    "import dataclasses\n"
    "C = type('C', (), {'__annotations__': {'a, b=print(1)': int}})\n"
    "dataclasses.dataclass(C)\n"
)
NAMEDTUPLE_FIELD_SOURCE = "import collections\nN = collections.namedtuple('N', ['a=print(1)'])\n"
ENUM_MEMBER_SOURCE = "import enum\nE = enum.Enum('E', {'__getattribute__': print})\n"

# -- raw buffers --------------------------------------------------------------------------

FILE_DIGEST = "import hashlib, io\nd = hashlib.file_digest(io.BytesIO(b'x'), 'sha256')\n"
BYTESIO_GETBUFFER = "import io\nview = io.BytesIO(b'x').getbuffer()\n"
BYTESIO_GETBUFFER_VIA_SUPER = (
    "import io\nclass B(io.BytesIO):\n    pass\nb = B(b'x')\nview = super(B, b).getbuffer()\n"
)
BYTESIO_GETBUFFER_BY_HAND = "import io\nview = io.BytesIO(b'x').__getattribute__('getbuffer')\n"


@pytest.mark.parametrize(
    ("source", "stop"),
    [
        (ALIAS_MODEL_FIELDS, _model("ProtocolMessage", "model_fields")),
        (ALIAS_FIELD_INFO, _model("ProtocolMessage", "model_fields")),
        (ALIAS_MRO, _refused("int", "mro", DENIED_EVERYWHERE["mro"])),
        (ALIAS_IN_FORMAT_FIELD, _refused("int", "mro", DENIED_EVERYWHERE["mro"])),
        (ALIAS_ABC_REGISTER, _refused("Sequence", "register",
                                      DENIED_ATTRIBUTES[type(__import__("abc").ABC)]["register"])),
        (ALIAS_PARSE_RAW, Stop("guards", AttributeError, f"PartialResponse.parse_raw {_PYDANTIC}")),
        (GENERIC_ALIAS_MODEL, Stop("guards", AttributeError,
                                   f"PartialResponse.model_construct {_PYDANTIC}")),
        (GENERIC_ALIAS_DICT, _refused("dict", "__dict__", OWN_OBJECTS_ONLY["__dict__"])),
        (ALIAS_BY_HAND, _model("ProtocolMessage", "model_fields")),
        (ALIAS_THROUGH_ATTRGETTER, _model("ProtocolMessage", "model_fields")),
        (ALIAS_THROUGH_METHODCALLER, Stop("guards", AttributeError,
                                          f"PartialResponse.model_construct {_PYDANTIC}")),
        (TYPEDDICT_KEY_INTO_DATACLASS, Stop("modules", TypeError,
            "dataclasses.dataclass: \"x=print('pwned') or 1\" is not a valid field name")),
        (TYPE_NAMESPACE_ANNOTATION_INTO_DATACLASS, Stop("modules", TypeError,
            "dataclasses.dataclass: 'a, b=print(1)' is not a valid field name")),
        (NAMEDTUPLE_FIELD_SOURCE, Stop("library:__init__.py", ValueError,
            "Type names and field names must be valid identifiers: 'a=print(1)'")),
        (ENUM_MEMBER_SOURCE, Stop("guards", ValueError,
            "enum member names in scripts must be public strings: '__getattribute__'")),
        (FILE_DIGEST, Stop("modules", AttributeError,
            "module 'hashlib' has no attribute 'file_digest' available to scripts")),
        (BYTESIO_GETBUFFER, _refused("BytesIO", "getbuffer",
                                     DENIED_ATTRIBUTES[__import__("io").BytesIO]["getbuffer"])),
        (BYTESIO_GETBUFFER_VIA_SUPER, _refused("B", "getbuffer",
                                               DENIED_ATTRIBUTES[__import__("io").BytesIO]["getbuffer"])),
        (BYTESIO_GETBUFFER_BY_HAND, _refused("BytesIO", "getbuffer",
                                             DENIED_ATTRIBUTES[__import__("io").BytesIO]["getbuffer"])),
    ],
)  # fmt: skip
def test_red_team_findings_are_closed(source: str, stop: Stop) -> None:
    assert stopped_by(source) == stop
