"""Every spelling of importing a dangerous module, and module attributes that lead to one."""

from __future__ import annotations

import pytest

from sandbox.policy import SourceRejected
from tests.sandbox.policy.harness import Stop, stopped_by

DANGEROUS = (
    "subprocess", "socket", "ctypes", "importlib", "builtins", "marshal", "http.client", "gc",
    "_io", "posix", "signal", "multiprocessing", "inspect", "code", "codeop", "runpy", "pdb",
    "copyreg", "shelve", "zipimport", "urllib.robotparser", "logging.config", "ssl", "select",
    "mmap", "fcntl", "numpy.ctypeslib", "numpy.lib.stride_tricks", "numpy.f2py",
    "numpy.testing", "pandas.io.pickle", "pandas.core.computation", "pandas.compat",
    "PIL.ImageShow", "scipy._lib", "yaml.constructor", "matplotlib.testing", "timeit",
    "concurrent.futures.process", "asyncio.subprocess", "unittest", "sysconfig",
)  # fmt: skip
WHERE = 'the README, section "What a script can import", lists what scripts can import'


def _spellings(module: str) -> dict[str, tuple[str, str]]:
    """source -> (module named in the ImportError, spelling)"""
    parent, _, last = module.rpartition(".")
    spellings = {
        f"import {module}\n": module,
        f"import {module} as m\n": module,
        f"from {module} import x\n": module,
        f"import {module}.sub\n": f"{module}.sub",
    }
    if parent:  # the submodule is named, though its parent is importable
        spellings[f"from {parent} import {last}\n"] = module
    return spellings


@pytest.mark.parametrize(
    ("source", "named"),
    [(source, named) for module in DANGEROUS for source, named in _spellings(module).items()
     if not source.startswith(("import _", "from _")) and " import _" not in source],
)  # fmt: skip
def test_dangerous_imports_raise_import_error_naming_the_module(source: str, named: str) -> None:
    stop = stopped_by(source)
    assert (stop.layer, stop.error) == ("modules", ImportError), stop
    assert stop.message.startswith(f"import of {named!r} is not allowed in scripts: ")
    assert stop.message.endswith(WHERE)


DUNDER_IMPORT = "os = __import__('os')\n"
RELATIVE_IMPORT = "from . import os\n"
RELATIVE_PARENT_IMPORT = "from .. import secrets\n"
PRIVATE_MODULE = "import _io\n"
IMPORT_AS_PRIVATE = "import json as _json\n"
SUBMODULE_OF_ALLOWED = "import json.decoder\n"
FROM_ALLOWED_IMPORT_SUBMODULE = "from json import decoder\n"
FROM_ALLOWED_IMPORT_MODULE_ATTRIBUTE = "from re import enum\n"
IMPORTLIB_VIA_ALLOWED = "import typing\nm = typing.importlib\n"
STAR_IMPORT = "from json import *\n"

_CANNOT = "cannot import name {!r} from '<unknown module name>' (unknown location)"


@pytest.mark.parametrize(
    ("source", "stop"),
    [
        (RELATIVE_IMPORT, Stop("compiler", SourceRejected,
            "relative imports are not available: a script is a single file")),
        (RELATIVE_PARENT_IMPORT, Stop("compiler", SourceRejected,
            "relative imports are not available: a script is a single file")),
        (PRIVATE_MODULE, Stop("modules", ImportError,
            "import of '_io' is not allowed in scripts: private modules are the "
            'library\'s own; the README, section "What a script can import", lists '
            'what scripts can import')),
        (SUBMODULE_OF_ALLOWED, Stop("modules", ImportError,
            "import of 'json.decoder' is not allowed in scripts: it is not in the list of "
            f"importable modules; {WHERE}")),
        # The proxy has no __name__, so CPython's fallback to sys.modules["json.decoder"]
        # finds nothing to look up (tests/sandbox/policy/test_modules.py).
        (FROM_ALLOWED_IMPORT_SUBMODULE, Stop("modules", ImportError,
            "import of 'json.decoder' is not allowed in scripts: it is not in the list of "
            f"importable modules; {WHERE}")),
        (FROM_ALLOWED_IMPORT_MODULE_ATTRIBUTE, Stop("script", ImportError,
                                                    _CANNOT.format("enum"))),
        (IMPORTLIB_VIA_ALLOWED, Stop("modules", AttributeError,
            "module 'typing' has no attribute 'importlib' available to scripts")),
        (STAR_IMPORT, Stop("compiler", SourceRejected,
            '"*" imports are not allowed: import the names you use')),
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
        ("io", "FileIO"), ("io", "open_code"), ("csv", "re"), ("os", "system"), ("os", "fork"),
        ("os", "read"), ("os", "write"), ("os", "fdopen"), ("os", "dup2"), ("os", "kill"),
        ("os", "putenv"), ("os", "execv"), ("os", "popen"), ("os", "open"), ("os", "sys"),
        ("os", "register_at_fork"), ("os", "abc"), ("sys", "modules"), ("sys", "settrace"),
        ("sys", "setrecursionlimit"), ("sys", "stdout"), ("sys", "path"), ("sys", "argv"),
        ("types", "new_class"), ("types", "CodeType"), ("types", "FrameType"),
        ("types", "ModuleType"), ("types", "CellType"),
        ("traceback", "walk_stack"), ("traceback", "walk_tb"),
        ("threading", "enumerate"), ("threading", "settrace"), ("threading", "setprofile"),
        ("pickle", "PickleBuffer"), ("codecs", "register"), ("logging", "StrFormatStyle"),
        ("concurrent.futures", "ProcessPoolExecutor"), ("asyncio", "create_subprocess_exec"),
        ("asyncio", "create_subprocess_shell"), ("numpy", "ctypeslib"), ("numpy", "testing"),
        ("numpy", "f2py"), ("numpy", "info"), ("pandas", "eval"), ("pandas", "read_pickle"),
        ("pandas", "read_clipboard"), ("matplotlib", "use"), ("scipy", "LowLevelCallable"),
        ("yaml", "unsafe_load"), ("yaml", "full_load"), ("yaml", "Loader"),
        ("yaml", "UnsafeLoader"), ("yaml", "FullLoader"), ("yaml", "constructor"),
        ("rich", "inspect"), ("pydantic", "create_model"), ("pydantic", "TypeAdapter"),
        ("pydantic", "validate_call"),
    ],
)  # fmt: skip
def test_module_attributes_leading_out_are_absent(module: str, attribute: str) -> None:
    assert stopped_by(f"import {module}\nx = {module}.{attribute}\n") == Stop(
        "modules",
        AttributeError,
        f"module {module!r} has no attribute {attribute!r} available to scripts",
    )
