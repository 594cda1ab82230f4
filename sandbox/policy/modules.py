"""The import hook: allow-listed modules (SPEC §8), each as a read-only proxy of its public API.

A proxy holds the module's public names (``__all__`` where it exists, else every name not
starting with "_"), minus module-valued ones (``re.enum`` leads to ``sys``) and the reviewed
DENIED_NAMES, with WRAPPED_NAMES swapped for checked versions. It has no ``__name__``: the
``from m import x`` fallback would otherwise look up ``sys.modules["m.x"]`` and hand over the
real submodule. PREIMPORT lists what the template process imports before forking, so that
code importing lazily (``datetime.strptime`` → ``_strptime``) works without file access.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import functools
import importlib
import sys
import types
import typing
from collections.abc import Callable
from typing import Any, NoReturn

from sandbox.policy.guards import (
    SCRIPT_TYPE,
    ScriptEnumType,
    guarded_getattr,
    is_script_class,
    register_script_class,
)


def _names(names: str) -> tuple[str, ...]:
    return tuple(names.split())


# -- POLICY ------------------------------------------------------------------------------

#: What ``import`` gives a script. Submodules must be listed themselves.
ALLOWED_MODULES: dict[str, str] = {
    **dict.fromkeys(_names("json csv base64 html string textwrap re"), "text and data formats"),
    **dict.fromkeys(_names("math random decimal fractions statistics"), "numbers; no I/O"),
    **dict.fromkeys(_names("datetime time"), "dates and clocks; the wall clock limit ends sleeps"),
    **dict.fromkeys(
        _names("itertools functools collections collections.abc dataclasses typing enum"),
        "the language's own toolkit",
    ),
    **dict.fromkeys(_names("hashlib uuid"), "digests and identifiers; no I/O"),
    "io": "StringIO and BytesIO (in memory)",
    "fastapi_poe": "the protocol types, as `import fastapi_poe as fp` (SPEC §8)",
    **dict.fromkeys(
        _names("fastapi_poe.types fastapi_poe.client fastapi_poe.base"),
        "where fastapi_poe defines its types (`from fastapi_poe.types import SettingsResponse`)",
    ),
}

#: Submodules that show only the names of their parent's reviewed proxy defined there: the
#: same surface as ``fp`` (fastapi_poe.types also holds pydantic's BaseModel, Field, ...).
PARENT_SURFACE: dict[str, str] = dict.fromkeys(
    _names("fastapi_poe.types fastapi_poe.client fastapi_poe.base"), "fastapi_poe"
)

#: Names ``import`` gives that are not modules: each run's own objects (import_hook_for).
RUN_MODULES: dict[str, str] = {
    "poe": "the run's global `poe` itself (Poe's runtime: `import poe` is the same object)",
}

_SERVING = "serves or calls bots over the network; bot calls go through poe.call (SPEC §8)"

#: Public names kept out of the proxies.
DENIED_NAMES: dict[str, dict[str, str]] = {
    "re": {"template": "deprecated (warns), undocumented"},
    "uuid": {
        "Enum": "the real enum.Enum, imported by uuid: see enum below",
        "getnode": "the host's MAC address; may run `ip` or `ifconfig`",
        "uuid1": "embeds the host's MAC address (getnode)",
    },
    "time": {
        "clock_settime": "sets the system clock",
        "clock_settime_ns": "sets the system clock",
    },
    "io": {
        "open": "files (SPEC §8: no file system)",
        "open_code": "files",
        "FileIO": "files",
        **dict.fromkeys(
            _names("BufferedReader BufferedWriter BufferedRandom BufferedRWPair"),
            "hand a script's raw stream memoryviews of their own buffer, never released: "
            "kept, they write into freed memory (BytesIO and StringIO need none of them)",
        ),
    },
    "functools": {
        "update_wrapper": "copies attributes named by the caller, private ones too: "
        "updated=('__globals__',) merges a runtime function's globals into the script's",
        "wraps": "update_wrapper as a decorator",
        "singledispatch": "register() reads annotations with get_type_hints: eval of strings",
        "singledispatchmethod": "as singledispatch",
    },
    "string": {"Formatter": "walks format fields ({0.__class__}) past the guards"},
    "typing": {
        "get_type_hints": "evaluates annotation strings with eval",
        "ForwardRef": "a string to be evaluated",
        "no_type_check": "sets attributes on any object, shared ones too",
        "no_type_check_decorator": "as no_type_check",
        "reveal_type": "writes to the process's stderr, not the chat",
    },
    "dataclasses": {
        "make_dataclass": "makes a class from data past __metaclass__: any bases, pydantic "
        "models included (whose metaclass evaluates annotation strings)",
    },
    "enum": {
        "EnumType": "a metaclass: calling it makes classes past __metaclass__",
        "EnumMeta": "EnumType",
        "global_enum": "writes members into the globals of the module the enum names",
        "ReprEnum": "a base for IntEnum-like types; its functional API takes any names",
    },
    "fastapi_poe": {
        **dict.fromkeys(
            _names(
                "PoeBot run make_app stream_request get_bot_response get_bot_response_sync "
                "get_final_response sync_bot_settings upload_file upload_file_sync"
            ),
            _SERVING,
        ),
        "RequestContext": "serving side: wraps an HTTP request, which scripts never have",
    },
}


def _own_class(cls: object, what: str) -> None:
    if not is_script_class(cls):
        raise TypeError(f"{what} applies only to classes the script defines")


def _dataclass(cls: Any = None, /, **kwargs: Any) -> Any:
    def wrap(cls: Any) -> Any:
        _own_class(cls, "dataclasses.dataclass")
        return register_script_class(dataclasses.dataclass(cls, **kwargs))

    return wrap if cls is None else wrap(cls)


def _check_fields_public(ob: Any, what: str) -> None:
    # asdict/astuple read every field, private ones too, and recurse like this.
    if dataclasses.is_dataclass(ob) and not isinstance(ob, type):
        fields = dataclasses.fields(ob)
        if not is_script_class(type(ob)) and any(f.name.startswith("_") for f in fields):
            raise TypeError(f"{what}() cannot read private fields of {type(ob).__name__}")
        for f in fields:
            _check_fields_public(getattr(ob, f.name), what)
    elif isinstance(ob, list | tuple):
        for item in ob:
            _check_fields_public(item, what)
    elif isinstance(ob, dict):
        for key, value in ob.items():
            _check_fields_public(key, what)
            _check_fields_public(value, what)


def _asdict(ob: Any, **kwargs: Any) -> Any:
    _check_fields_public(ob, "asdict")
    return dataclasses.asdict(ob, **kwargs)


def _astuple(ob: Any, **kwargs: Any) -> Any:
    _check_fields_public(ob, "astuple")
    return dataclasses.astuple(ob, **kwargs)


def _total_ordering(cls: Any) -> Any:
    _own_class(cls, "functools.total_ordering")
    return functools.total_ordering(cls)


def _script_type(value: Any) -> Any:
    return SCRIPT_TYPE if value is type else value


def _get_origin(tp: Any) -> Any:
    return _script_type(typing.get_origin(tp))


def _get_args(tp: Any) -> tuple[Any, ...]:
    return tuple(_script_type(arg) for arg in typing.get_args(tp))


def _script_enum(base: type) -> type:
    namespace = ScriptEnumType.__prepare__(base.__name__, (base,))
    namespace.update({"__module__": "enum", "__qualname__": base.__qualname__})
    return ScriptEnumType(base.__name__, (base,), namespace)


_ENUM_BASES = _names("Enum IntEnum StrEnum Flag IntFlag")
_FUNCTIONAL = "Enum('E', names) takes any names, dunders too: the script's take public names"

#: Public names replaced by a checked version, with the reason.
WRAPPED_NAMES: dict[str, dict[str, tuple[Callable[..., Any], str]]] = {
    "dataclasses": {
        "dataclass": (_dataclass, "sets attributes on the class: only the script's own"),
        "asdict": (_asdict, "reads every field: refused for private fields of shared objects"),
        "astuple": (_astuple, "as asdict"),
    },
    "functools": {
        "total_ordering": (_total_ordering, "adds methods to the class: only the script's own")
    },
    "enum": {name: (_script_enum(getattr(enum, name)), _FUNCTIONAL) for name in _ENUM_BASES},
    "typing": {
        "get_origin": (_get_origin, "typing.get_origin(typing.Type) is the real type"),
        "get_args": (_get_args, "as get_origin"),
    },
}

# -- proxies and the hook ---------------------------------------------------------------


class ModuleProxy:
    """A read-only stand-in for an allowed module (shown to scripts as ``module``)."""

    __slots__ = ("_attrs", "_name")

    def __init__(self, name: str, attrs: dict[str, object]) -> None:
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_attrs", attrs)

    def __getattr__(self, attr: str) -> object:
        try:
            return self._attrs[attr]
        except KeyError:
            raise AttributeError(
                f"module {self._name!r} has no attribute {attr!r} available to scripts"
            ) from None

    def __setattr__(self, attr: str, value: object) -> NoReturn:
        raise AttributeError(f"module {self._name!r} is read-only")

    def __delattr__(self, attr: str) -> NoReturn:
        raise AttributeError(f"module {self._name!r} is read-only")

    def __dir__(self) -> list[str]:
        return sorted(self._attrs)

    def __repr__(self) -> str:
        return f"<module {self._name!r} (restricted)>"


ModuleProxy.__name__ = ModuleProxy.__qualname__ = "module"

_proxies: dict[str, ModuleProxy] = {}
_ABSENT = object()


def public_names(module: types.ModuleType) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is None:
        names = list(vars(module))
    return [name for name in names if type(name) is str and not name.startswith("_")]


def _own_attrs(name: str) -> dict[str, object]:
    """The names a proxy of ``name`` shows, its allowed submodules aside."""
    module = importlib.import_module(name)
    if name in PARENT_SURFACE:
        parent = _own_attrs(PARENT_SURFACE[name])
        return {a: v for a, v in parent.items() if vars(module).get(a, _ABSENT) is v}
    denied, wrapped = DENIED_NAMES.get(name, {}), WRAPPED_NAMES.get(name, {})
    attrs: dict[str, object] = {}
    for attr in public_names(module):
        value = getattr(module, attr)
        if attr in denied or isinstance(value, types.ModuleType):
            continue
        attrs[attr] = wrapped[attr][0] if attr in wrapped else value
    return attrs


def module_proxy(name: str) -> ModuleProxy:
    """The proxy of allowed module ``name`` (built once; read-only, so shared by runs)."""
    proxy = _proxies.get(name)
    if proxy is None:
        attrs = _own_attrs(name)
        for sub in ALLOWED_MODULES:
            parent, _, child = sub.rpartition(".")
            if parent == name:
                attrs[child] = module_proxy(sub)
        proxy = _proxies[name] = ModuleProxy(name, attrs)
    return proxy


def import_hook(
    name: str,
    globals: object = None,  # __import__'s own parameter names
    locals: object = None,
    fromlist: object = None,
    level: int = 0,
) -> ModuleProxy | None:
    """The script's ``__import__``: a proxy of an allowed module, or ImportError naming it."""
    if type(name) is not str:
        raise ImportError("module names must be strings")
    if type(fromlist) is list:
        # C code importing lazily (datetime.strptime → _strptime) calls __import__ with a
        # list; import statements pass None or a tuple, and scripts cannot call __import__.
        # C takes the module from sys.modules itself: nothing is handed to the script.
        if name in sys.modules:
            return None
        raise ImportError(f"module {name!r} was not loaded before the run started", name=name)
    if level:
        raise ImportError("relative imports are not available in scripts", name=name)
    if name not in ALLOWED_MODULES:
        raise ImportError(f"import of {name!r} is not allowed in scripts", name=name)
    return module_proxy(name if fromlist else name.partition(".")[0])


def _guarded_view(target: object) -> object:
    """What ``from poe import X`` reads: ``target`` through the attribute guard, as ``poe.X``
    would be read (the import statement's own attribute read skips ``_getattr_``)."""

    class module:
        __slots__ = ()

        def __getattr__(self, attr: str) -> object:
            return guarded_getattr(target, attr)

        def __repr__(self) -> str:
            return "<module 'poe'>"

    return module()


def import_hook_for(poe: object) -> Callable[..., Any]:
    """One run's ``__import__``: ``import poe`` is ``poe`` (RUN_MODULES), the rest import_hook."""
    names = _guarded_view(poe)

    def run_import_hook(
        name: str,
        globals: object = None,
        locals: object = None,
        fromlist: object = None,
        level: int = 0,
    ) -> object:
        if name == "poe" and not level and type(fromlist) is not list:
            return names if fromlist else poe
        return import_hook(name, globals, locals, fromlist, level)

    return run_import_hook


#: Modules the template process must import before forking: the allowed ones, and those
#: they (or C code, or codecs) import lazily on first use. tests/sandbox/policy checks that
#: running a script over every allowed module imports nothing new.
PREIMPORT: tuple[str, ...] = (
    *ALLOWED_MODULES,
    "RestrictedPython",
    "_strptime",  # datetime.strptime, time.strptime
    "unicodedata",  # re: \N{...}; str.encode("idna")
    "heapq",  # Counter.most_common(n)
    "copy",  # UserDict.copy, dataclasses
    "warnings",  # re, enum, io warn lazily
    *_names("_md5 _sha1 _sha256 _sha512 _blake2 _sha3"),  # hashlib's fallbacks
    *(
        f"encodings.{codec}"  # str.encode and io.TextIOWrapper look codecs up lazily
        for codec in _names(
            "idna punycode ascii latin_1 utf_8_sig utf_16 utf_16_le utf_16_be utf_32 utf_32_le "
            "utf_32_be cp1252 cp437 iso8859_15 unicode_escape raw_unicode_escape base64_codec "
            "hex_codec rot_13"
        )
    ),
)

#: Native code the template loads before forking, for modules a run imports later from the
#: read-only library (isolation/filesystem.py): the C library dependencies outside that
#: library (libsqlite3, liblzma, libstdc++ ...) cannot be opened from inside the sandbox, and
#: the dynamic loader reuses a library already loaded under the same name without a file.
NATIVE_PRELOAD: dict[str, str] = {
    **dict.fromkeys(
        _names("_sqlite3 _lzma _bz2 zlib _ssl _hashlib _uuid pyexpat _ctypes _decimal"),
        "the standard library's extension modules that link a system library",
    ),
}
#: System libraries that manylinux wheels (numpy, pandas, Pillow, lxml ...) may link.
NATIVE_SYSTEM_LIBRARIES = _names(
    "libstdc++.so.6 libgcc_s.so.1 libz.so.1 libm.so.6 libmvec.so.1 libresolv.so.2 "
    "librt.so.1 libdl.so.2 libpthread.so.0"
)


def preload_native() -> None:
    """Load NATIVE_PRELOAD and NATIVE_SYSTEM_LIBRARIES (the template, before forking)."""
    import ctypes

    for name in NATIVE_PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    for library in NATIVE_SYSTEM_LIBRARIES:
        with contextlib.suppress(OSError):
            ctypes.CDLL(library)
