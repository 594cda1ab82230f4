"""Every spelling of importing a dangerous module, and module attributes that lead to one."""

from __future__ import annotations

import pytest

from sandbox.policy import SourceRejected
from tests.sandbox.policy.harness import Stop, stopped_by

DANGEROUS = (
    "os", "sys", "subprocess", "socket", "ctypes", "importlib", "builtins", "pickle", "marshal",
    "pathlib", "http.client", "gc", "_io", "posix", "signal", "threading",
)  # fmt: skip


def _spellings(module: str) -> dict[str, tuple[str, str]]:
    """source -> (module named in the ImportError, spelling)"""
    top, _, rest = module.partition(".")
    spellings = {
        f"import {module}\n": module,
        f"import {module} as m\n": module,
        f"from {module} import x\n": module,
        f"import {module}.sub\n": f"{module}.sub",
    }
    if rest:
        spellings[f"from {top} import {rest}\n"] = top
    return spellings


@pytest.mark.parametrize(
    ("source", "named"),
    [(source, named) for module in DANGEROUS for source, named in _spellings(module).items()
     if not source.startswith(("import _", "from _"))],
)  # fmt: skip
def test_dangerous_imports_raise_import_error_naming_the_module(source: str, named: str) -> None:
    assert stopped_by(source) == Stop(
        "modules", ImportError, f"import of {named!r} is not allowed in scripts"
    )


DUNDER_IMPORT = "os = __import__('os')\n"
RELATIVE_IMPORT = "from . import os\n"
RELATIVE_PARENT_IMPORT = "from .. import secrets\n"
PRIVATE_MODULE = "import _io\n"
IMPORT_AS_PRIVATE = "import json as _json\n"
SUBMODULE_OF_ALLOWED = "import json.decoder\n"
FROM_ALLOWED_IMPORT_SUBMODULE = "from json import decoder\n"
FROM_ALLOWED_IMPORT_MODULE_ATTRIBUTE = "from re import enum\n"
FROM_FP_IMPORT_SUBMODULE = "from fastapi_poe import client\n"
IMPORTLIB_VIA_ALLOWED = "import typing\nm = typing.importlib\n"
STAR_IMPORT = "from json import *\n"

_CANNOT = "cannot import name {!r} from '<unknown module name>' (unknown location)"


@pytest.mark.parametrize(
    ("source", "stop"),
    [
        (DUNDER_IMPORT, Stop("compiler", SourceRejected,
            '"__import__" is an invalid variable name because it starts with "_"')),
        (RELATIVE_IMPORT, Stop("compiler", SourceRejected,
            "relative imports are not available: a script is a single file")),
        (RELATIVE_PARENT_IMPORT, Stop("compiler", SourceRejected,
            "relative imports are not available: a script is a single file")),
        (PRIVATE_MODULE, Stop("compiler", SourceRejected,
            '"_io" is an invalid variable name because it starts with "_"')),
        (IMPORT_AS_PRIVATE, Stop("compiler", SourceRejected,
            '"_json" is an invalid variable name because it starts with "_"')),
        (SUBMODULE_OF_ALLOWED, Stop("modules", ImportError,
            "import of 'json.decoder' is not allowed in scripts")),
        # The proxy has no __name__, so CPython's fallback to sys.modules["json.decoder"]
        # finds nothing to look up (tests/sandbox/policy/test_modules.py).
        (FROM_ALLOWED_IMPORT_SUBMODULE, Stop("script", ImportError, _CANNOT.format("decoder"))),
        (FROM_ALLOWED_IMPORT_MODULE_ATTRIBUTE, Stop("script", ImportError,
                                                    _CANNOT.format("enum"))),
        (FROM_FP_IMPORT_SUBMODULE, Stop("script", ImportError, _CANNOT.format("client"))),
        (IMPORTLIB_VIA_ALLOWED, Stop("modules", AttributeError,
            "module 'typing' has no attribute 'importlib' available to scripts")),
        (STAR_IMPORT, Stop("compiler", SourceRejected, '"*" imports are not allowed.')),
    ],
)  # fmt: skip
def test_other_import_spellings_are_stopped(source: str, stop: Stop) -> None:
    assert stopped_by(source) == stop


@pytest.mark.parametrize(
    ("module", "attribute"),
    [
        ("re", "enum"), ("re", "sys"), ("re", "functools"), ("json", "codecs"),
        ("json", "decoder"), ("uuid", "os"), ("uuid", "sys"), ("uuid", "platform"),
        ("datetime", "sys"), ("typing", "sys"), ("typing", "functools"), ("dataclasses", "sys"),
        ("dataclasses", "inspect"), ("dataclasses", "builtins"), ("random", "os"),
        ("collections", "sys"), ("enum", "sys"), ("functools", "abc"), ("statistics", "sys"),
        ("io", "open"), ("io", "FileIO"), ("io", "open_code"), ("csv", "re"),
        ("fastapi_poe", "client"), ("fastapi_poe", "base"), ("fastapi_poe", "types"),
    ],
)  # fmt: skip
def test_module_attributes_leading_out_are_absent(module: str, attribute: str) -> None:
    assert stopped_by(f"import {module}\nx = {module}.{attribute}\n") == Stop(
        "modules",
        AttributeError,
        f"module {module!r} has no attribute {attribute!r} available to scripts",
    )
