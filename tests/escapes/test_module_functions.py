"""Functions of allowed modules that would walk past the guards, evaluate strings, do I/O."""

from __future__ import annotations

import pytest

from sandbox.policy.guards import DENIED_EVERYWHERE, OWN_VALUES_ONLY
from sandbox.policy.modules import FIXED_NAMES_ONLY
from tests.sandbox.policy.harness import Stop, stopped_by

# functools.update_wrapper copies attributes named by the caller, private ones included:
# with updated=("__globals__",) a script could merge poe.call's module globals (real
# builtins, imported modules) into its own globals.
UPDATE_WRAPPER_GLOBALS = (
    "import functools\n"
    "def mine():\n    pass\n"
    "class Holder:\n    pass\n"
    "h = Holder()\n"
    "functools.update_wrapper(h, mine, assigned=('__globals__',), updated=())\n"
    "functools.update_wrapper(h, poe.call, assigned=(), updated=('__globals__',))\n"
)
WRAPS = "import functools\n@functools.wraps(poe.call)\ndef f():\n    pass\nx = f.__wrapped__\n"
GET_TYPE_HINTS = (
    "import typing\n"
    'def f(x: typing.List[\'__import__("os").system("id")\']):\n    pass\n'
    "typing.get_type_hints(f)\n"
)
FORWARD_REF = "import typing\ntyping.ForwardRef('1 + 1')\n"
SINGLEDISPATCH = "import functools\n@functools.singledispatch\ndef f(x):\n    pass\n"
MAKE_DATACLASS = (
    "import dataclasses, fastapi_poe as fp\n"
    "M = dataclasses.make_dataclass(\n"
    "    'M', [('x', '__import__(\"os\")')], bases=(fp.PartialResponse,)\n)\n"
)
DATACLASS_ON_SHARED_CLASS = (
    "import dataclasses, fastapi_poe as fp\ndataclasses.dataclass(fp.Sender)\n"
)
TOTAL_ORDERING_ON_SHARED_CLASS = "import functools\nfunctools.total_ordering(type(poe))\n"
ENUM_METACLASS = "import enum\nmeta = enum.EnumMeta\n"
GLOBAL_ENUM = "import enum\nenum.global_enum\n"
UUID_NODE = "import uuid\nuuid.getnode()\n"
UUID1 = "import uuid\nuuid.uuid1()\n"
CLOCK_SET = "import time\ntime.clock_settime(time.CLOCK_REALTIME, 0)\n"
TYPING_NO_TYPE_CHECK = "import typing\ntyping.no_type_check(poe)\n"
STREAM_REQUEST = "import fastapi_poe as fp\nfp.stream_request\n"
MAKE_APP = "import fastapi_poe as fp\nfp.make_app\n"
RUN_SERVER = "import fastapi_poe as fp\nfp.run\n"
GET_BOT_RESPONSE = "from fastapi_poe import get_bot_response\n"
UPLOAD_FILE = "import fastapi_poe as fp\nfp.upload_file_sync\n"
POE_BOT = "import fastapi_poe as fp\nfp.PoeBot\n"
PARSE_RAW = (
    "import fastapi_poe as fp\n"
    "fp.PartialResponse.parse_raw(b'...', content_type='application/pickle', allow_pickle=True)\n"
)
PARSE_FILE = "import fastapi_poe as fp\nfp.PartialResponse.parse_file('/etc/passwd')\n"
CONSTRUCT = "import fastapi_poe as fp\nfp.PartialResponse.construct(text=poe)\n"
MODEL_CONSTRUCT = "import fastapi_poe as fp\nfp.PartialResponse.model_construct(text=poe)\n"
MODEL_REBUILD = "import fastapi_poe as fp\nfp.PartialResponse.model_rebuild(force=True)\n"
UPDATE_FORWARD_REFS = "import fastapi_poe as fp\nfp.ProtocolMessage.update_forward_refs()\n"
INSTANCE_LOADER = "import fastapi_poe as fp\nfp.PartialResponse(text='x').parse_raw('{}')\n"
BASE_MODEL_VIA_MRO = (
    "import fastapi_poe as fp\nbase = fp.PartialResponse.mro()[1]\nbase.model_construct()\n"
)
PYDANTIC_VALIDATOR = (
    "import fastapi_poe as fp\nv = getattr(fp.PartialResponse, '__pydantic_validator__')\n"
)
PYDANTIC_PRIVATE_ON_INSTANCE = (
    "import fastapi_poe as fp\n"
    "v = getattr(fp.PartialResponse(text='x'), '__pydantic_fields_set__')\n"
)
ASDICT_OF_PRIVATE_FIELDS = "import dataclasses\nx = dataclasses.asdict(Holder())\n"


def _absent(module: str, name: str) -> Stop:
    return Stop("modules", AttributeError,
                f"module {module!r} has no attribute {name!r} available to scripts")  # fmt: skip


def _model(cls: str, name: str, reason: str) -> Stop:
    return Stop("guards", AttributeError, f"{cls}.{name} is not available to scripts: {reason}")


# Pydantic models offer scripts an allow-list (guards.PYDANTIC_MODEL_METHODS): every other
# name is refused with this reason, whatever it does (pickle, files, eval, no validation).
PYDANTIC_ALLOW_LIST = (
    "pydantic models offer scripts their fields and model_dump, model_dump_json, model_copy, "
    "model_validate, model_validate_json, model_json_schema"
)


def _off_allow_list(cls: str, name: str) -> Stop:
    return _model(cls, name, PYDANTIC_ALLOW_LIST)


@pytest.mark.parametrize(
    ("source", "stop"),
    [
        (UPDATE_WRAPPER_GLOBALS, Stop("modules", TypeError, FIXED_NAMES_ONLY)),
        (WRAPS, Stop("guards", AttributeError, "function.__wrapped__ is not available to "
                     f"scripts: {OWN_VALUES_ONLY['__wrapped__']}")),
        (GET_TYPE_HINTS, _absent("typing", "get_type_hints")),
        (FORWARD_REF, _absent("typing", "ForwardRef")),
        (SINGLEDISPATCH, _absent("functools", "singledispatch")),
        (MAKE_DATACLASS, _absent("dataclasses", "make_dataclass")),
        (DATACLASS_ON_SHARED_CLASS, Stop("modules", TypeError,
            "dataclasses.dataclass applies only to classes the script defines")),
        (TOTAL_ORDERING_ON_SHARED_CLASS, Stop("modules", TypeError,
            "functools.total_ordering applies only to classes the script defines")),
        (ENUM_METACLASS, _absent("enum", "EnumMeta")),
        (GLOBAL_ENUM, _absent("enum", "global_enum")),
        (UUID_NODE, _absent("uuid", "getnode")),
        (UUID1, _absent("uuid", "uuid1")),
        (CLOCK_SET, _absent("time", "clock_settime")),
        (TYPING_NO_TYPE_CHECK, _absent("typing", "no_type_check")),
        (STREAM_REQUEST, _absent("fastapi_poe", "stream_request")),
        (MAKE_APP, _absent("fastapi_poe", "make_app")),
        (RUN_SERVER, _absent("fastapi_poe", "run")),
        (GET_BOT_RESPONSE, Stop("script", ImportError, "cannot import name 'get_bot_response' "
            "from '<unknown module name>' (unknown location)")),
        (UPLOAD_FILE, _absent("fastapi_poe", "upload_file_sync")),
        (POE_BOT, _absent("fastapi_poe", "PoeBot")),
        (PARSE_RAW, _off_allow_list("PartialResponse", "parse_raw")),
        (PARSE_FILE, _off_allow_list("PartialResponse", "parse_file")),
        (CONSTRUCT, _off_allow_list("PartialResponse", "construct")),
        (MODEL_CONSTRUCT, _off_allow_list("PartialResponse", "model_construct")),
        (MODEL_REBUILD, _off_allow_list("PartialResponse", "model_rebuild")),
        (UPDATE_FORWARD_REFS, _off_allow_list("ProtocolMessage", "update_forward_refs")),
        (INSTANCE_LOADER, _off_allow_list("PartialResponse", "parse_raw")),
        (PYDANTIC_VALIDATOR, Stop("guards", AttributeError,
            'PartialResponse.__pydantic_validator__ is not available to scripts: '
            'pydantic models offer scripts their fields and model_dump, '
            'model_dump_json, model_copy, model_validate, model_validate_json, '
            'model_json_schema')),
        (PYDANTIC_PRIVATE_ON_INSTANCE, Stop("guards", AttributeError,
            'PartialResponse.__pydantic_fields_set__ is not available to scripts: '
            'pydantic models offer scripts their fields and model_dump, '
            'model_dump_json, model_copy, model_validate, model_validate_json, '
            'model_json_schema')),
        (BASE_MODEL_VIA_MRO, _model("PartialResponse", "mro", DENIED_EVERYWHERE["mro"])),
    ],
)  # fmt: skip
def test_dangerous_module_functions_are_stopped(source: str, stop: Stop) -> None:
    assert stopped_by(source) == stop


def test_model_validate_json_parses_json_only() -> None:
    source = (
        "import fastapi_poe as fp, base64\n"
        "pickled = base64.b64decode('gASVEAAAAAAAAACMAm9zlIwGZ2V0cGlklJOUKVKULg==')\n"
        "try:\n    fp.PartialResponse.model_validate_json(pickled)\n"
        "except ValueError as e:\n    print(type(e).__name__)\n"
        "print(fp.PartialResponse.model_json_schema()['type'])\n"
    )
    assert stopped_by(source) == Stop("", None, "ValidationError\nobject\n")


def test_asdict_refuses_private_fields_of_shared_dataclasses() -> None:
    import dataclasses

    @dataclasses.dataclass
    class Holder:  # stands for a runtime dataclass holding its port privately
        name: str = "x"
        _port: object = "secret"

    from tests.sandbox.policy.harness import run

    outcome = run(ASDICT_OF_PRIVATE_FIELDS.replace("Holder()", "poe"), poe=Holder())
    assert isinstance(outcome.error, TypeError)
    assert str(outcome.error) == "asdict() cannot read private fields of Holder"
