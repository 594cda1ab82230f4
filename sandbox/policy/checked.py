"""Checked versions of library functions that modules.py hands scripts instead of the real ones.

Each refuses only the argument or use that reaches past the restricted layer (a pickle
naming any global, a file descriptor, a YAML tag that calls any function) and otherwise
calls the real function. Nothing here imports a preinstalled package at import time: the
package is already imported when a proxy that holds its wrapper is built.
"""

from __future__ import annotations

import builtins
import io
import logging
import os
import pickle
from collections.abc import Callable
from typing import Any

#: What a script's pickles may name (module, qualified name): plain data only, so that
#: loading runs no function and builds no object of a class the script did not choose.
UNPICKLE_GLOBALS: dict[str, frozenset[str]] = {
    "builtins": frozenset(
        [
            "set",
            "frozenset",
            "bytearray",
            "complex",
            "slice",
            "range",
            "int",
            "float",
            "str",
            "bytes",
            "bool",
            "list",
            "dict",
            "tuple",
        ]
    ),
    "collections": frozenset(["OrderedDict", "deque", "Counter"]),
    "datetime": frozenset(["date", "time", "datetime", "timedelta", "timezone"]),
    "decimal": frozenset(("Decimal",)),
    "fractions": frozenset(("Fraction",)),
    "uuid": frozenset(("UUID",)),
    "zoneinfo": frozenset(("ZoneInfo",)),
}


class _DataUnpickler(pickle.Unpickler):
    """An Unpickler whose find_class names only UNPICKLE_GLOBALS."""

    def find_class(self, module: str, name: str) -> Any:
        if name in UNPICKLE_GLOBALS.get(module, ()):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"pickle data names {module}.{name}: scripts load pickles of plain data only "
            "(loading would call or build anything it names)"
        )


def pickle_loads(data: Any, /, **kwargs: Any) -> Any:
    return _DataUnpickler(io.BytesIO(data), **kwargs).load()


def pickle_load(file: Any, /, **kwargs: Any) -> Any:
    return _DataUnpickler(file, **kwargs).load()


def pickle_unpickler(file: Any, /, **kwargs: Any) -> Any:
    """``pickle.Unpickler(file)``: a data-only unpickler (a function, so no subclass can
    override find_class)."""
    return _DataUnpickler(file, **kwargs)


def _path_only(file: Any, what: str) -> None:
    if isinstance(file, int) or (not isinstance(file, str | bytes | os.PathLike)):
        raise TypeError(
            f"{what} takes a file name in scripts, not {type(file).__name__}: descriptors "
            "belong to the sandbox (the channel to the host is one)"
        )


def open_file(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
    """``open``: files by name (the run's scratch directory is the only place that exists)."""
    _path_only(file, "open()")
    if kwargs.get("opener") is not None or (len(args) >= 5 and args[4] is not None):
        raise TypeError("open(opener=...) is not available in scripts")
    return builtins.open(file, mode, *args, **kwargs)


def refuse(what: str, reason: str) -> Callable[..., Any]:
    """A stand-in that raises, naming why: for names whose absence would confuse more."""

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(f"{what} is not available to scripts: {reason}")

    refused.__name__ = refused.__qualname__ = what.rpartition(".")[2]
    return refused


def yaml_load_checked(
    real: Callable[..., Any], safe_loaders: tuple[Any, ...]
) -> Callable[..., Any]:
    """``yaml.load``/``load_all`` with a safe Loader only (SafeLoader when none is given):
    the others build any Python object a tag names (``!!python/object/apply:os.system``)."""

    def load(stream: Any, Loader: Any = None) -> Any:
        if Loader is None:
            Loader = safe_loaders[0]
        if Loader not in safe_loaders:
            raise TypeError(
                "yaml: only SafeLoader and BaseLoader are available to scripts "
                "(the other loaders build any Python object a tag names)"
            )
        return real(stream, Loader=Loader)

    load.__name__ = load.__qualname__ = real.__name__
    return load


def without_pickle(real: Callable[..., Any], what: str) -> Callable[..., Any]:
    """A loader (``numpy.load``) with ``allow_pickle`` refused: pickles name any global."""

    def load(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("allow_pickle"):
            raise TypeError(
                f"{what}(allow_pickle=True) is not available to scripts: pickles "
                "may call any function"
            )
        kwargs["allow_pickle"] = False
        return real(*args, **kwargs)

    load.__name__ = load.__qualname__ = real.__name__
    return load


def codecs_open(filename: Any, *args: Any, **kwargs: Any) -> Any:
    import codecs

    _path_only(filename, "codecs.open()")
    return codecs.open(filename, *args, **kwargs)


def _no_brace_style(style: Any) -> None:
    if style == "{":
        raise ValueError(
            "logging style '{' is not available to scripts: str.format over log records "
            "walks attributes past the guards; use '%' or '$'"
        )


class LoggingFormatter(logging.Formatter):
    """logging.Formatter without ``style="{"``."""

    def __init__(self, fmt: Any = None, datefmt: Any = None, style: Any = "%", **kwargs: Any):
        _no_brace_style(style)
        super().__init__(fmt, datefmt, style, **kwargs)


LoggingFormatter.__name__ = LoggingFormatter.__qualname__ = "Formatter"
LoggingFormatter.__module__ = "logging"


def logging_basic_config(**kwargs: Any) -> None:
    _no_brace_style(kwargs.get("style"))
    logging.basicConfig(**kwargs)


def sax_make_parser(parser_list: Any = ()) -> Any:
    """``xml.sax.make_parser``: the default parser (a list would name modules to import)."""
    import xml.sax

    if parser_list:
        raise TypeError("xml.sax.make_parser(parser_list) is not available to scripts")
    return xml.sax.make_parser()
