"""The import hook: allow-listed modules (SPEC §8), each as a read-only proxy of its public API.

A proxy holds the module's public names (``__all__`` where it exists, else every name not
starting with "_"), minus module-valued ones (``re.enum`` leads to ``sys``) and the reviewed
DENIED_NAMES, with WRAPPED_NAMES swapped for checked versions. It has no ``__name__``: the
``from m import x`` fallback would otherwise look up ``sys.modules["m.x"]`` and hand over the
real submodule. PREIMPORT lists what the template process imports before forking, so that
code importing lazily (``datetime.strptime`` → ``_strptime``) works without file access.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import enum
import functools
import importlib
import importlib.util
import keyword
import re
import sys
import threading
import types
import typing
import weakref
from collections.abc import Callable
from typing import Any, NoReturn

from sandbox.policy import checked
from sandbox.policy.compiler import Problem
from sandbox.policy.guards import (
    SCRIPT_TYPE,
    GuardedFormatter,
    ScriptEnumType,
    allow_writes,
    deny_attributes,
    guarded_getattr,
    is_script_class,
    is_script_object,
    register_script_class,
)


def _names(names: str) -> tuple[str, ...]:
    return tuple(names.split())


# -- POLICY ------------------------------------------------------------------------------

#: What ``import`` gives a script from the standard library (and fastapi_poe). Submodules
#: are listed themselves, their parents too. Modules that touch the operating system work
#: against the run's sandbox (isolation/): its scratch directory is the only file system,
#: the environment is empty, and processes, signals and sockets are refused by the kernel.
ALLOWED_MODULES: dict[str, str] = {
    **dict.fromkeys(
        _names(
            "string re textwrap difflib unicodedata stringprep shlex fnmatch html html.parser "
            "html.entities"
        ),
        "text",
    ),
    **dict.fromkeys(
        _names(
            "json csv base64 binascii quopri struct codecs configparser tomllib plistlib "
            "netrc mimetypes"
        ),
        "data formats",
    ),
    **dict.fromkeys(
        _names(
            "xml xml.etree xml.etree.ElementTree xml.dom xml.dom.minidom xml.dom.pulldom "
            "xml.sax xml.sax.handler xml.sax.saxutils xml.parsers xml.parsers.expat"
        ),
        "XML; external entities resolve only to files of the sandbox",
    ),
    **dict.fromkeys(
        _names(
            "email email.message email.mime email.mime.text email.mime.multipart "
            "email.mime.base email.mime.application email.mime.image email.mime.audio "
            "email.mime.nonmultipart email.utils email.parser email.policy email.header "
            "email.headerregistry email.generator email.encoders email.charset email.errors "
            "email.contentmanager email.iterators"
        ),
        "e-mail messages as data (sending needs the network: refused)",
    ),
    **dict.fromkeys(
        _names("urllib urllib.parse ipaddress http http.cookies"), "URLs, addresses, statuses"
    ),
    **dict.fromkeys(
        _names("urllib.request urllib.error"),
        "HTTP through the host for half-shield scripts (full shield: refused at once)",
    ),
    **dict.fromkeys(_names("math cmath random decimal fractions statistics numbers"), "numbers"),
    **dict.fromkeys(
        _names("datetime time calendar zoneinfo"),
        "dates and clocks (zoneinfo with tzdata); the wall clock limit ends sleeps",
    ),
    **dict.fromkeys(
        _names(
            "itertools functools collections collections.abc dataclasses typing enum abc "
            "operator copy pprint reprlib graphlib heapq bisect array weakref contextlib "
            "contextvars types keyword ast"
        ),
        "the language's own toolkit",
    ),
    **dict.fromkeys(_names("hashlib hmac secrets uuid"), "digests, secrets, identifiers"),
    **dict.fromkeys(
        _names("zlib gzip bz2 lzma zipfile tarfile"),
        "compression and archives: in memory or in the scratch directory",
    ),
    **dict.fromkeys(
        _names("io os os.path pathlib tempfile shutil glob filecmp sqlite3"),
        "files: the run's scratch directory (its working directory) is the only one there is",
    ),
    **dict.fromkeys(
        _names("threading queue sched concurrent concurrent.futures asyncio"),
        "threads (capped per run) and event loops of the script's own code",
    ),
    **dict.fromkeys(
        _names("logging warnings traceback sys"),
        "diagnostics (logging writes nowhere unless the script gives it a file or stream)",
    ),
    **dict.fromkeys(_names("colorsys wave"), "colours and sound as data"),
    "pickle": "loads plain data only (checked, below): a pickle may name any function",
    "__future__": "from __future__ import annotations (compiler directives; feature records)",
    "fastapi_poe": "the protocol types, as `import fastapi_poe as fp` (SPEC §8)",
    **dict.fromkeys(
        _names("fastapi_poe.types fastapi_poe.client fastapi_poe.base"),
        "where fastapi_poe defines its types (`from fastapi_poe.types import SettingsResponse`)",
    ),
}

_PROCESSES = "starts processes: the sandbox has none but the run's own (seccomp refuses fork, exec)"
_NETWORK = (
    "sockets: scripts have none; HTTP goes through requests, httpx, urllib.request or aiohttp "
    "with `# poe: privacy_shield=half`, bots are called with poe.call (SPEC §8)"
)
_CODE = "turns text or bytes into code that skips the restricted compiler"
_INTERPRETER = "reaches the interpreter's internals (frames, modules, import machinery)"

#: Modules (and everything under them) that stay out, with the reason. Any other module of
#: the standard library not in ALLOWED_MODULES is refused as well; these are named so that
#: the ImportError can say why (and modules whose names start with "_" are private).
DENIED_MODULES: dict[str, str] = {
    **dict.fromkeys(
        _names("subprocess multiprocessing concurrent.futures.process pty pipes"), _PROCESSES
    ),
    **dict.fromkeys(
        _names(
            "socket ssl select selectors socketserver http.client http.server "
            "urllib.robotparser ftplib smtplib imaplib poplib nntplib telnetlib "
            "xmlrpc webbrowser asyncio.subprocess"
        ),
        _NETWORK,
    ),
    **dict.fromkeys(
        _names(
            "code codeop compileall py_compile runpy pdb bdb trace profile cProfile timeit "
            "doctest zipimport marshal dis symtable tokenize"
        ),
        _CODE,
    ),
    **dict.fromkeys(
        _names(
            "builtins importlib pkgutil inspect gc site sysconfig ctypes tracemalloc "
            "faulthandler atexit"
        ),
        _INTERPRETER,
    ),
    "copyreg": "registers how objects are copied and pickled, for the runtime's objects too",
    "shelve": "pickle underneath: loading calls whatever the data names",
    "signal": "signals: the run's CPU limit is one (SIGXCPU); the kernel refuses the rest",
    **dict.fromkeys(
        _names("posix fcntl termios tty mmap pwd grp resource"),
        "raw operating-system calls (descriptors, terminals, memory maps, user database)",
    ),
    **dict.fromkeys(
        _names("unittest venv ensurepip distutils lib2to3 idlelib tkinter turtle curses "),
        "development tools and desktop interfaces",
    ),
    "logging.config": "dictConfig imports and calls any dotted name it is given",
    "logging.handlers": "socket, syslog and SMTP handlers: the network",
}

#: Preinstalled packages (pyproject.toml): import name -> (distribution, what it is for).
#: A package and its public submodules import (``import matplotlib.pyplot as plt``), but
#: for DENIED_MODULES. Their own code runs as normal Python, not rewritten: what the
#: sandbox does not contain by itself (code from text, pickles, raw memory) is refused by
#: name below. Their HTTP goes through the host for half-shield scripts (sandbox/child/
#: clients.py); the kernel refuses every socket of every script.
PACKAGES: dict[str, tuple[str, str]] = {
    "numpy": ("numpy", "arrays and numerical computing"),
    "pandas": ("pandas", "data frames: CSV, Excel, JSON, SQL (sqlite3)"),
    "PIL": ("pillow", "images (as `from PIL import Image`)"),
    "pillow_heif": ("pillow-heif", "HEIF/HEIC images for Pillow"),
    "matplotlib": ("matplotlib", "charts, drawn by the Agg backend into files or BytesIO"),
    "scipy": ("scipy", "scientific computing"),
    "bs4": ("beautifulsoup4", "HTML and XML parsing"),
    "lxml": ("lxml", "fast XML and HTML"),
    "yaml": ("pyyaml", "YAML (safe loaders only)"),
    "regex": ("regex", "regular expressions, beyond re"),
    "tabulate": ("tabulate", "text tables"),
    "arrow": ("arrow", "dates and times"),
    "dateutil": ("python-dateutil", "date parsing, relative deltas, time zones"),
    "faker": ("faker", "fake data"),
    "openpyxl": ("openpyxl", "Excel workbooks, read and written"),
    "xlsxwriter": ("xlsxwriter", "Excel workbooks, written"),
    "docx": ("python-docx", "Word documents"),
    "pptx": ("python-pptx", "PowerPoint presentations"),
    "pypdf": ("pypdf", "PDF files, read, split, merged"),
    "fpdf": ("fpdf2", "PDF files, written"),
    "rich": ("rich", "rich text rendered into a string (Console(file=io.StringIO()))"),
    "pydantic": ("pydantic", "data validation types (see the policy for models)"),
    "requests": ("requests", "HTTP (half-shield scripts only; full-shield: no network)"),
    "httpx": ("httpx", "HTTP (half-shield scripts only; full-shield: no network)"),
    "aiohttp": ("aiohttp", "HTTP (half-shield scripts only; full-shield: no network)"),
    "tzdata": ("tzdata", "the time zone database zoneinfo reads"),
}

#: Other names a package is imported by: ``import PyPDF2`` gives pypdf.
ALIASES: dict[str, str] = {"PyPDF2": "pypdf"}

#: Package objects a script may change (items, attributes): its own data frames, sheets,
#: documents, figures (guards.WRITABLE_MODULES, to which these are added).
WRITABLE_PACKAGES: dict[str, str] = dict.fromkeys(
    _names(
        "numpy pandas PIL matplotlib scipy bs4 lxml openpyxl xlsxwriter docx pptx pypdf fpdf "
        "rich arrow dateutil faker yaml regex tabulate"
    ),
    "the run's own documents, tables, images and charts",
)

DENIED_MODULES.update(
    {
        **dict.fromkeys(
            _names("numpy.ctypeslib numpy.lib.stride_tricks"),
            "raw memory: arrays over any address (as_strided, as_array of a pointer)",
        ),
        **dict.fromkeys(
            _names("numpy.f2py numpy.distutils numpy.testing pandas.testing numpy.conftest"),
            "compiles or runs code, or starts processes (test helpers)",
        ),
        **dict.fromkeys(
            _names("pandas.io.clipboard pandas.io.clipboards"), "runs xclip/xsel: processes"
        ),
        **dict.fromkeys(
            _names("pandas.io.pickle pandas.compat numpy.lib.format numpy.lib.npyio"),
            "pickles name any function (pickle_compat, read_array(allow_pickle=True))",
        ),
        "pandas.core.computation": "eval and query: expression text whose attribute reads "
        "pass no guard",
        "pandas.io.formats.style": "Styler formats with str.format past the guards",
        "matplotlib.testing": "test helpers: start processes",
        "matplotlib.sphinxext": "documentation build: executes code blocks",
        **dict.fromkeys(
            _names(
                "PIL.ImageShow PIL.ImageGrab PIL.ImageTk PIL.ImageQt PIL.ImageWin "
                "PIL.EpsImagePlugin"
            ),
            "viewers, screen grabs and Ghostscript: processes and desktops",
        ),
        "scipy._lib": "private",
        "lxml.html.clean": "removed from lxml (a separate package)",
        "faker.sphinx": "documentation build: evaluates code",
        "rich._inspect": "reads any attribute of any object, private ones too",
        "yaml.constructor": "the unsafe constructors (python/object/apply) live here",
    }
)

#: Attributes refused on objects of package (and standard library) types, resolved when
#: the module proxy that holds the type is first built (guards.deny_attributes).
TYPE_DENIED_ATTRIBUTES: dict[str, dict[str, str]] = {
    "sqlite3.Connection": dict.fromkeys(
        ("enable_load_extension", "load_extension"), "loads native code into the process"
    ),
    "numpy.ndarray": {"ctypes": "the array's raw address and ctypes views of it"},
    "numpy.random.BitGenerator": dict.fromkeys(
        ("ctypes", "cffi"), "raw pointers into the generator's state"
    ),
    "pandas.DataFrame": {
        "eval": "evaluates expression text whose attribute reads pass no guard",
        "query": "as eval",
        "style": "Styler formats with str.format past the guards and renders with Jinja",
        "to_clipboard": "runs xclip/xsel: processes",
    },
    "pandas.Series": {"to_clipboard": "runs xclip/xsel: processes"},
    "PIL.Image.Image": {"show": "runs an image viewer: processes"},
    "faker.generator.Generator": dict.fromkeys(
        ("format", "get_formatter", "set_formatter", "add_provider"),
        "reads (or sets) any attribute by name, private ones too, past the guards",
    ),
    "faker.proxy.Faker": dict.fromkeys(
        ("format", "get_formatter", "set_formatter", "add_provider"),
        "as faker.generator.Generator",
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
        "open_code": "opens files for the import system",
        "FileIO": "takes a descriptor as well as a name: the channel to the host is one",
        **dict.fromkeys(
            _names("BufferedReader BufferedWriter BufferedRandom BufferedRWPair"),
            "hand a script's raw stream memoryviews of their own buffer, never released: "
            "kept, they write into freed memory (BytesIO and StringIO need none of them)",
        ),
    },
    "functools": {
        "singledispatch": "register() reads annotations with get_type_hints: eval of strings",
        "singledispatchmethod": "as singledispatch",
    },
    "hashlib": {"file_digest": "reads a file object through a raw memoryview of its buffer"},
    "weakref": {
        **dict.fromkeys(
            _names("proxy ProxyType CallableProxyType ProxyTypes"),
            "a proxy forwards every read to its referent, which the attribute guard cannot see",
        ),
        "finalize": "runs its callback whenever the object is collected, as __del__ would",
        "WeakMethod": "takes a callback run at collection, as finalize",
    },
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
    "abc": {"ABCMeta": "a metaclass (scripts derive from abc.ABC instead)"},
    "traceback": dict.fromkeys(
        _names("walk_stack walk_tb"), "hands out frames, which hold real globals"
    ),
    "threading": {
        "enumerate": "hands out the runtime's own threads (the channel reader)",
        **dict.fromkeys(
            (
                name
                for name in _names(
                    "settrace setprofile settrace_all_threads setprofile_all_threads"
                )
                if hasattr(threading, name)  # the *_all_threads ones: Python 3.12
            ),
            "trace functions are given frames",
        ),
    },
    "concurrent.futures": {"ProcessPoolExecutor": _PROCESSES},
    "asyncio": dict.fromkeys(
        _names("create_subprocess_exec create_subprocess_shell SubprocessProtocol"), _PROCESSES
    ),
    "pickle": {"PickleBuffer": "a raw buffer view, as the denied memoryview builtin"},
    "codecs": dict.fromkeys(
        _names("register unregister"), "the codec registry is the runtime's too"
    ),
    "logging": {"StrFormatStyle": "str.format over records: field walks past the guards"},
    "numpy": {
        **dict.fromkeys(_names("ctypeslib testing f2py test"), "see DENIED_MODULES"),
        **dict.fromkeys(
            _names("show_config show_runtime info"),
            "introspection of the installation and of any object (inspect, pydoc)",
        ),
    },
    "pandas": {
        "eval": "evaluates expression text whose attribute reads pass no guard",
        "read_pickle": "pickles name any function",
        "read_clipboard": "runs xclip/xsel: processes",
    },
    "matplotlib": {"use": "a backend is any module named: module://name imports it"},
    "matplotlib.pyplot": {
        "switch_backend": "as matplotlib.use",
        "install_repl_displayhook": "changes sys.displayhook",
    },
    "PIL.ImageMath": {"unsafe_eval": "evaluates expression text (lambda_eval takes a function)"},
    "scipy": {"LowLevelCallable": "calls a raw function pointer"},
    "yaml": {
        **dict.fromkeys(
            _names(
                "unsafe_load unsafe_load_all full_load full_load_all Loader FullLoader "
                "UnsafeLoader CLoader CFullLoader CUnsafeLoader"
            ),
            "these loaders build any Python object a YAML tag names",
        ),
        "YAMLObjectMetaclass": "a metaclass (it registers constructors for the unsafe loaders)",
    },
    "rich": {"inspect": "reads any attribute of any object, private ones too"},
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


def _check_field_names(cls: type) -> None:
    # dataclasses pastes field names into the source of __init__ and friends, which it
    # exec's with real builtins; a class statement's names are identifiers, but
    # TypedDict("T", {"x=os.system('id')": int}) as a base brings any string.
    names = list(vars(cls).get("__annotations__", {}))
    for base in cls.__mro__[1:]:
        names.extend(getattr(base, "__dataclass_fields__", {}))
    for name in names:
        if type(name) is not str or not name.isidentifier() or keyword.iskeyword(name):
            raise TypeError(f"dataclasses.dataclass: {name!r} is not a valid field name")


def _dataclass(cls: Any = None, /, **kwargs: Any) -> Any:
    def wrap(cls: Any) -> Any:
        _own_class(cls, "dataclasses.dataclass")
        _check_field_names(cls)
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


FIXED_NAMES_ONLY = "functools.wraps in scripts copies functools' default names only"


def _update_wrapper(wrapper: Any, wrapped: Any, **names: Any) -> Any:
    # functools' own takes the attribute names from the caller (updated=("__globals__",)
    # would merge runtime globals, real builtins among them, into the script's) and copies
    # the wrapped function's __dict__: here the names are functools' defaults, the dict
    # only of the script's own functions, and the wrapper must be the script's.
    if names:
        raise TypeError(FIXED_NAMES_ONLY)
    if not is_script_object(wrapper):
        raise TypeError("functools.wraps applies only to functions the script defines")
    for name in functools.WRAPPER_ASSIGNMENTS:
        try:
            value = guarded_getattr(wrapped, name)
        except AttributeError:
            continue
        setattr(wrapper, name, value)
    if is_script_object(wrapped) and hasattr(wrapped, "__dict__"):
        wrapper.__dict__.update(wrapped.__dict__)
    wrapper.__wrapped__ = wrapped
    return wrapper


def _wraps(wrapped: Any, **names: Any) -> Callable[[Any], Any]:
    if names:
        raise TypeError(FIXED_NAMES_ONLY)
    return lambda wrapper: _update_wrapper(wrapper, wrapped)


def _weak_ref(ob: Any, callback: Any = None, /) -> Any:
    if callback is not None:
        raise TypeError("weakref.ref callbacks run whenever an object is collected: refused")
    return weakref.ref(ob)


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


def _attrgetter(*names: str) -> Callable[[Any], Any]:
    paths = [_plain_path(name) for name in names]

    def get(ob: Any) -> Any:
        values = []
        for path in paths:
            value = ob
            for part in path:
                value = guarded_getattr(value, part)
            values.append(value)
        return values[0] if len(values) == 1 else tuple(values)

    return get


def _plain_path(name: object) -> list[str]:
    if type(name) is not str:
        raise TypeError("attribute name must be a string")
    return name.split(".")


def _methodcaller(name: str, /, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
    if type(name) is not str:
        raise TypeError("method name must be a string")
    return lambda ob: guarded_getattr(ob, name)(*args, **kwargs)


_ENUM_BASES = _names("Enum IntEnum StrEnum Flag IntFlag")
_FUNCTIONAL = "Enum('E', names) takes any names, dunders too: the script's take public names"

_BY_NAME = "files by name only: descriptors belong to the sandbox"

#: Public names replaced by a checked version, with the reason.
WRAPPED_NAMES: dict[str, dict[str, tuple[Callable[..., Any], str]]] = {
    "io": {"open": (checked.open_file, _BY_NAME)},
    "codecs": {"open": (checked.codecs_open, _BY_NAME)},
    "pickle": {
        "loads": (checked.pickle_loads, "plain data only: a pickle may name any function"),
        "load": (checked.pickle_load, "as loads"),
        "Unpickler": (checked.pickle_unpickler, "as loads (and no find_class of the script's)"),
    },
    "logging": {
        "basicConfig": (checked.logging_basic_config, "style='{' refused (StrFormatStyle)"),
        "Formatter": (checked.LoggingFormatter, "style='{' refused (StrFormatStyle)"),
    },
    "xml.sax": {
        "make_parser": (checked.sax_make_parser, "parser_list names modules to import"),
    },
    "dataclasses": {
        "dataclass": (_dataclass, "sets attributes on the class: only the script's own"),
        "asdict": (_asdict, "reads every field: refused for private fields of shared objects"),
        "astuple": (_astuple, "as asdict"),
    },
    "functools": {
        "total_ordering": (_total_ordering, "adds methods to the class: only the script's own"),
        "update_wrapper": (_update_wrapper, "copies fixed public names, onto the script's own"),
        "wraps": (_wraps, "update_wrapper as a decorator"),
    },
    "enum": {name: (_script_enum(getattr(enum, name)), _FUNCTIONAL) for name in _ENUM_BASES},
    "weakref": {"ref": (_weak_ref, "without a callback (finalize, below)")},
    "string": {
        "Formatter": (GuardedFormatter, "format fields read attributes: through _getattr_"),
    },
    "operator": {
        "attrgetter": (_attrgetter, "reads attributes in C: through _getattr_ instead"),
        "methodcaller": (_methodcaller, "as attrgetter, then calls"),
    },
    "typing": {
        "get_origin": (_get_origin, "typing.get_origin(typing.Type) is the real type"),
        "get_args": (_get_args, "as get_origin"),
    },
}


def _yaml_checked(name: str) -> Callable[[Any], Any]:
    """yaml's ``name`` (load or load_all) with its Loader checked, from the real module."""
    return lambda yaml: checked.yaml_load_checked(getattr(yaml, name), _safe_yaml_loaders(yaml))


#: Wrappers of package functions, made from the real module once a run imports it.
PACKAGE_WRAPPED_NAMES: dict[str, dict[str, tuple[Callable[[Any], Any], str]]] = {
    "numpy": {
        "load": (
            lambda np: checked.without_pickle(np.load, "numpy.load"),
            "allow_pickle=True refused: pickles may call any function",
        )
    },
    "yaml": {
        name: (
            _yaml_checked(name),
            "SafeLoader or BaseLoader only (the default): the others build any object",
        )
        for name in ("load", "load_all")
    },
}


def _safe_yaml_loaders(yaml: Any) -> tuple[Any, ...]:
    names = ("SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader")
    return tuple(getattr(yaml, name) for name in names if hasattr(yaml, name))


#: Modules whose proxy holds only these names (their full surface is mostly process-wide
#: state: descriptors, processes, signals, the interpreter).
ONLY_NAMES: dict[str, tuple[str, ...]] = {
    "os": _names(
        "path sep altsep extsep pathsep linesep defpath devnull curdir pardir name environ "
        "getenv getcwd getcwdb chdir listdir scandir walk fwalk stat lstat stat_result "
        "DirEntry makedirs mkdir remove unlink removedirs rmdir rename renames replace "
        "symlink readlink link utime truncate access fspath fsencode fsdecode PathLike "
        "urandom cpu_count getpid strerror error close umask times get_terminal_size "
        "F_OK R_OK W_OK X_OK SEEK_SET SEEK_CUR SEEK_END supports_fd supports_dir_fd "
        "supports_follow_symlinks"
    ),
    "sys": _names(
        "version version_info hexversion platform byteorder maxsize maxunicode float_info "
        "int_info hash_info float_repr_style implementation getsizeof getrecursionlimit "
        "getdefaultencoding getfilesystemencoding exit exc_info exception intern flags"
    ),
    "types": _names(
        "SimpleNamespace MappingProxyType FunctionType LambdaType MethodType "
        "BuiltinFunctionType BuiltinMethodType GeneratorType CoroutineType "
        "AsyncGeneratorType NoneType NotImplementedType EllipsisType GenericAlias UnionType"
    ),
    "pydantic": _names(
        "BaseModel ValidationError ConfigDict Field field_validator model_validator"
    ),
}

# -- proxies and the hook ---------------------------------------------------------------


class ModuleProxy:
    """A read-only stand-in for an allowed module (shown to scripts as ``module``)."""

    __slots__ = ("_attrs", "_name")
    _attrs: dict[str, object]
    _name: str

    def __init__(self, name: str, attrs: dict[str, object]) -> None:
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_attrs", attrs)

    def __getattr__(self, attr: str) -> object:
        try:
            value = self._attrs[attr]
        except KeyError:
            raise AttributeError(
                f"module {self._name!r} has no attribute {attr!r} available to scripts"
            ) from None
        if type(value) is _Submodule:
            try:
                value = self._attrs[attr] = module_proxy(value.name)
            except ModuleNotFoundError:
                raise AttributeError(
                    f"module {self._name!r} has no attribute {attr!r} available to scripts"
                ) from None
        return value

    def __setattr__(self, attr: str, value: object) -> NoReturn:
        raise AttributeError(f"module {self._name!r} is read-only")

    def __delattr__(self, attr: str) -> NoReturn:
        raise AttributeError(f"module {self._name!r} is read-only")

    def __dir__(self) -> list[str]:
        return sorted(self._attrs)

    def __repr__(self) -> str:
        return f"<module {self._name!r} (restricted)>"


ModuleProxy.__name__ = ModuleProxy.__qualname__ = "module"


@dataclasses.dataclass(frozen=True)
class _Submodule:
    """An allowed submodule in its parent's proxy, imported when first read."""

    name: str


_proxies: dict[str, ModuleProxy] = {}
_ABSENT = object()
README_SECTION = "What a script can import"
_WHERE = f'the README, section "{README_SECTION}", lists what scripts can import'


def public_names(module: types.ModuleType) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is None:
        names = list(vars(module))
    return [name for name in names if type(name) is str and not name.startswith("_")]


def refusal(name: str) -> str | None:
    """Why ``import name`` is refused, or None when it is allowed."""
    name = ALIASES.get(name, name)
    if name in ALLOWED_MODULES:
        return None
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        reason = DENIED_MODULES.get(".".join(parts[:end]))
        if reason is not None:
            return reason
    if any(part.startswith("_") or not part for part in parts):
        return "private modules are the library's own"
    if parts[0] in PACKAGES and (len(parts) == 1 or parts[0] not in ONLY_NAMES):
        return None
    return "it is not in the list of importable modules"


def _denied_home(value: object, name: str) -> bool:
    """Whether ``value`` (a function or class another module re-exports) is denied, or
    comes from a denied module, where it is defined."""
    home = getattr(value, "__module__", None) if callable(value) else None
    if type(home) is not str or home == name:
        return False
    own = getattr(value, "__name__", None)
    if own in DENIED_NAMES.get(home, ()) or home in DENIED_MODULES:
        return True
    return any(home.startswith(denied + ".") for denied in DENIED_MODULES)


def _own_attrs(name: str) -> dict[str, object]:
    """The names a proxy of ``name`` shows, its allowed submodules aside."""
    module = importlib.import_module(name)
    if name in PARENT_SURFACE:
        parent = _own_attrs(PARENT_SURFACE[name])
        return {a: v for a, v in parent.items() if vars(module).get(a, _ABSENT) is v}
    denied, wrapped = DENIED_NAMES.get(name, {}), WRAPPED_NAMES.get(name, {})
    lazy = PACKAGE_WRAPPED_NAMES.get(name, {})
    names = ONLY_NAMES.get(name)
    attrs: dict[str, object] = {}
    for attr in names if names is not None else public_names(module):
        if attr in denied:  # before reading it: numpy.testing would be imported
            continue
        value = vars(module).get(attr, _ABSENT)
        if value is _ABSENT:  # a package's lazy attribute (module __getattr__): a submodule
            sub = f"{name}.{attr}"
            if hasattr(module, "__path__") and refusal(sub) is None:
                attrs[attr] = _Submodule(sub)
            elif names is not None:
                value = getattr(module, attr, _ABSENT)
            if value is _ABSENT:
                continue
        if isinstance(value, types.ModuleType):
            sub = f"{name}.{attr}"
            if value.__name__ == sub and refusal(sub) is None:
                attrs[attr] = _Submodule(sub)
            continue
        if attr in wrapped:
            attrs[attr] = wrapped[attr][0]
        elif attr in lazy:
            attrs[attr] = lazy[attr][0](module)
        elif names is not None or not _denied_home(value, name):  # ONLY_NAMES: reviewed
            attrs[attr] = value
    _deny_type_attributes(name, module)
    return attrs


def _deny_type_attributes(name: str, module: types.ModuleType) -> None:
    """Refuse TYPE_DENIED_ATTRIBUTES of the types ``name``'s package has loaded so far."""
    top = name.partition(".")[0]
    for dotted, names in TYPE_DENIED_ATTRIBUTES.items():
        home, _, qualname = dotted.rpartition(".")
        owner = getattr(sys.modules.get(home), qualname, None)
        if dotted.partition(".")[0] == top and isinstance(owner, type):
            deny_attributes(owner, names)
    if top in WRITABLE_PACKAGES:
        allow_writes(top, WRITABLE_PACKAGES[top])


def module_proxy(name: str) -> ModuleProxy:
    """The proxy of allowed module ``name`` (built once; read-only, so shared by runs)."""
    name = ALIASES.get(name, name)
    proxy = _proxies.get(name)
    if proxy is None:
        attrs = _own_attrs(name)
        for sub in ALLOWED_MODULES:
            parent, _, child = sub.rpartition(".")
            if parent == name:
                attrs[child] = _Submodule(sub)
        proxy = _proxies[name] = ModuleProxy(name, attrs)
    return proxy


def _refuse(name: str, reason: str) -> ImportError:
    return ImportError(
        f"import of {name!r} is not allowed in scripts: {reason}; {_WHERE}", name=name
    )


def _is_submodule(name: str) -> bool:
    parent = sys.modules.get(name.rpartition(".")[0])
    if parent is None or not hasattr(parent, "__path__"):
        return False
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _with_submodule(name: str) -> None:
    """After ``import a.b.c``: each parent's proxy shows its child (``a.b``, ``a.b.c``)."""
    parts = name.split(".")
    for end in range(1, len(parts)):
        parent, child = ".".join(parts[:end]), ".".join(parts[: end + 1])
        attrs = module_proxy(parent)._attrs
        if parts[end] not in attrs:
            attrs[parts[end]] = _Submodule(child)


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
        # C code importing lazily (datetime.strptime → _strptime, pickle's find_class)
        # calls __import__ with a list; import statements pass None or a tuple, and scripts
        # cannot call __import__. C takes the module from sys.modules itself: nothing is
        # handed to the script. Modules the script could import itself are imported.
        if name in sys.modules:
            return None
        if refusal(name) is None:
            importlib.import_module(ALIASES.get(name, name))
            return None
        raise ImportError(f"module {name!r} was not loaded before the run started", name=name)
    if level:
        raise ImportError("relative imports are not available in scripts", name=name)
    reason = refusal(name)
    if reason is not None:
        raise _refuse(name, reason)
    real = ALIASES.get(name, name)
    module_proxy(real)
    _with_submodule(real)
    if not fromlist:
        return module_proxy(name.partition(".")[0])
    proxy = module_proxy(real)
    for attr in fromlist if type(fromlist) is tuple else ():
        # `from a import b` with b a submodule not yet imported (Python's _handle_fromlist)
        if type(attr) is str and attr not in proxy._attrs and attr != "*":
            sub = f"{real}.{attr}"
            if _is_submodule(sub):
                reason = refusal(sub)
                if reason is not None:
                    raise _refuse(sub, reason)
                proxy._attrs[attr] = _Submodule(sub)
    return proxy


def import_problems(source: str) -> list[Problem]:
    """The imports of ``source`` that will fail at run time, each at its line (``scriptbots
    check``; the source already compiles)."""
    problems: list[Problem] = []
    for node in ast.walk(ast.parse(source)):
        names: list[tuple[str, list[str] | None]]
        if isinstance(node, ast.Import):
            names = [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [(node.module, [alias.name for alias in node.names])]
        else:
            continue
        for name, fromlist in names:
            if name in RUN_MODULES or name.partition(".")[0] in RUN_MODULES:
                continue
            try:
                proxy = import_hook(name, None, None, tuple(fromlist) if fromlist else None)
                attrs = proxy._attrs if proxy is not None else {}  # (None only for a list)
                missing = [n for n in fromlist or () if n not in attrs]
            except ImportError as exc:
                problems.append(Problem(node.lineno, node.col_offset + 1, str(exc)))
                continue
            for attr in missing:
                problems.append(
                    Problem(
                        node.lineno,
                        node.col_offset + 1,
                        f"{name}.{attr} is not available to scripts; {_WHERE}",
                    )
                )
    return problems


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


#: Modules whose proxies the template builds before forking (namespace.warm_up): cheap and
#: common, so that most scripts import nothing at run time. Any other allowed module is
#: imported by the run that asks for it, from the read-only library.
LEAN_MODULES: tuple[str, ...] = _names(
    "json csv base64 html string textwrap re math random decimal fractions statistics "
    "datetime time itertools functools collections collections.abc dataclasses typing enum "
    "hashlib uuid io fastapi_poe fastapi_poe.types fastapi_poe.client fastapi_poe.base"
)

#: Modules the template process imports before forking: LEAN_MODULES, and those they (or C
#: code, or codecs) import lazily on first use. tests/sandbox/policy checks that running a
#: script over the lean modules imports nothing new.
PREIMPORT: tuple[str, ...] = (
    *LEAN_MODULES,
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


#: Packages the warm template imports before forking (sandbox/pools.py): the ones whose
#: import costs a run most. A version that imports any of them runs on the warm template;
#: one that imports none of them never pays for them (issue 9).
WARM_MODULES: dict[str, str] = {
    "numpy": "~0.1 s to import",
    "pandas": "~0.5 s to import (numpy, dateutil, pytz)",
    "matplotlib": "~0.3 s with pyplot, and its font list (built once in the template)",
    "matplotlib.pyplot": "the Agg backend",
    "PIL.Image": "Pillow",
    "scipy": "scipy's top level (its subpackages import lazily)",
    "openpyxl": "pandas.read_excel and to_excel",
}
_WARM_IMPORT = re.compile(
    r"^[ \t]*(?:import[ \t]+[^\n#]*?\b|from[ \t]+)(?:"
    + "|".join(sorted({re.escape(name.partition(".")[0]) for name in WARM_MODULES}))
    + r")\b",
    re.MULTILINE,
)


@functools.lru_cache(maxsize=512)
def wants_warm(source: str) -> bool:
    """Whether ``source`` imports a WARM_MODULES package (a mention in an import line is
    enough: at worst a hello world runs on the warm template)."""
    return _WARM_IMPORT.search(source) is not None


def warm_up_packages() -> None:
    """Import WARM_MODULES and build their proxies, in the warm template before forking.

    matplotlib gets a private configuration directory for this, removed afterwards (the
    template has no home); its fonts are limited to its own (the Python library's, which
    runs can read), and no font stays open (children close every descriptor)."""
    import os
    import shutil
    import tempfile

    config = tempfile.mkdtemp(prefix="scriptbots-mpl-")
    os.environ["MPLCONFIGDIR"] = config
    try:
        import matplotlib

        matplotlib.use("Agg")
        for name in WARM_MODULES:
            importlib.import_module(name)
            module_proxy(name)
            _with_submodule(name)
        from matplotlib import font_manager

        data = os.path.realpath(matplotlib.get_data_path())
        manager = font_manager.fontManager
        manager.ttflist = [f for f in manager.ttflist if f.fname.startswith(data)]
        manager.afmlist = [f for f in manager.afmlist if f.fname.startswith(data)]
        _rehearse_packages()
    finally:
        del os.environ["MPLCONFIGDIR"]
        shutil.rmtree(config, ignore_errors=True)


def _rehearse_packages() -> None:
    import io

    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd
    from matplotlib import font_manager

    frame = pd.DataFrame({"a": np.arange(3), "b": ["x", "y", "z"]})
    frame["c"] = frame["a"] * 2
    frame.describe()
    pd.read_csv(io.StringIO(frame.to_csv(index=False)))
    figure, axes = plt.subplots()
    axes.plot([1, 2, 3])
    axes.set_title("warm")
    figure.savefig(io.BytesIO(), format="png")
    plt.close("all")
    # Open font files: children close descriptors. (Private caches: not in matplotlib's stubs.)
    font_manager._get_font.cache_clear()  # type: ignore[attr-defined]
    font_manager.fontManager._findfont_cached.cache_clear()  # type: ignore[attr-defined]
