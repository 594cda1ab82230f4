"""The builtins and globals one run of a compiled script executes in.

``exec(compile_script(source), script_globals(poe=..., print_function=..., input_function=...))``
inside ``try/except BaseException`` (scripts may raise SystemExit and KeyboardInterrupt).
Every name of ``builtins`` is handed over, wrapped or denied below, with the reason.
"""

from __future__ import annotations

import builtins
import importlib
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence

from sandbox.policy.checked import open_file
from sandbox.policy.compiler import FILENAME
from sandbox.policy.guards import (
    CLASS_HOOK,
    SCRIPT_TYPE,
    GlobalsView,
    guarded_apply,
    guarded_delattr,
    guarded_getattr,
    guarded_getitem,
    guarded_hasattr,
    guarded_inplacevar,
    guarded_iter,
    guarded_setattr,
    guarded_write,
    is_sandbox_name,
)
from sandbox.policy.modules import LEAN_MODULES, PREIMPORT, import_hook, module_proxy


def _names(names: str) -> tuple[str, ...]:
    return tuple(names.split())


# -- POLICY ------------------------------------------------------------------------------

#: Builtins handed over as they are, by group.
BUILTINS_AS_IS: dict[str, tuple[str, ...]] = {
    "pure functions of their arguments": _names(
        "abs aiter anext ascii bin callable chr divmod format hash hex id isinstance issubclass "
        "len next oct ord pow repr round"
    ),
    "names as strings (dir() lists the caller's names, dir(x) asks x)": ("dir",),
    # Real classes, so that isinstance, subclassing and `type(x) is list` work. The ones
    # that iterate their argument in C skip _getiter_, which refuses nothing (guards.py).
    "value types": _names(
        "bool bytearray bytes complex dict float frozenset int list object range set slice "
        "str tuple"
    ),
    "class building blocks": _names("classmethod property staticmethod super"),
    "constants": _names("None True False Ellipsis NotImplemented"),
    "class statements (the compiler adds metaclass=__metaclass__)": ("__build_class__",),
}

#: Builtins replaced by a guarded version (defined below).
BUILTINS_WRAPPED: dict[str, str] = {
    "type": "never a metaclass; type(name, bases, ns) goes through the class hook like a "
    "class statement (the real one would make classes past it: a pydantic base evals strings)",
    "globals": "a view of the script's globals without the sandbox's entries (guards.GlobalsView)",
    "locals": "the calling script frame's names, copied (globals() at module level)",
    "vars": "vars(x) reads x.__dict__ through _getattr_; vars() is locals()",
    **dict.fromkeys(_names("getattr hasattr"), "through _getattr_"),
    **dict.fromkeys(_names("setattr delattr"), "through _write_, public names only"),
    **dict.fromkeys(
        _names("all any enumerate filter iter map max min reversed sorted sum zip"),
        "iterates its arguments through _getiter_",
    ),
    "print": "the chat's print (the compiler calls it as _print_(...)._call_print)",
    "input": "the runtime's input (raises NotImplementedError, reference 004)",
    "__import__": "the allow-list import hook (modules.py)",
    "open": "files by name only (checked.open_file): the scratch directory is all there is",
}

#: Builtins a script does not get.
BUILTINS_DENIED: dict[str, str] = {
    **dict.fromkeys(_names("eval exec compile"), "new code that skips the restricted compiler"),
    "memoryview": "rarely useful in a bot; raw buffer views were the route of CPython bugs",
    **dict.fromkeys(
        _names("BaseExceptionGroup ExceptionGroup"), "except* is refused (RestrictedPython)"
    ),
    **dict.fromkeys(
        _names("breakpoint help exit quit copyright credits license"),
        "interactive helpers: read stdin or files, or stop the interpreter",
    ),
    **dict.fromkeys(
        _names("__debug__ __doc__ __loader__ __name__ __package__ __spec__"),
        "module metadata of builtins itself",
    ),
}
# Every builtin exception class not denied above is handed over as is (scripts raise and
# catch them; SystemExit and KeyboardInterrupt too: the child catches BaseException).

# -- builtins ------------------------------------------------------------------------------


class ChatPrint:
    """What ``_print_(_getattr_)`` returns: each ``print`` goes straight to the chat.

    Never buffers (RestrictedPython's PrintCollector keeps every line in memory until the
    script reads ``printed``; a print flood would fill the run's memory)."""

    __slots__ = ("_print_function",)

    def __init__(self, print_function: Callable[..., None]) -> None:
        self._print_function = print_function

    def _call_print(self, *objects: object, **kwargs: Any) -> None:
        file = kwargs.get("file")
        if file is not None:
            guarded_getattr(file, "write")
        self._print_function(*objects, **kwargs)

    def __call__(self, _getattr_: object = None) -> ChatPrint:
        return self


def _sorted(iterable: Iterable[Any], /, *, key: Any = None, reverse: bool = False) -> list[Any]:
    return sorted(guarded_iter(iterable), key=key, reverse=reverse)


def _extreme(pick: Callable[..., Any]) -> Callable[..., Any]:
    def extreme(*args: Any, **kwargs: Any) -> Any:
        if len(args) == 1:
            return pick(guarded_iter(args[0]), **kwargs)
        return pick(*args, **kwargs)

    extreme.__name__ = extreme.__qualname__ = pick.__name__
    return extreme


def _sum(iterable: Iterable[Any], /, start: Any = 0) -> Any:
    return sum(guarded_iter(iterable), start)


def _any(iterable: Iterable[Any], /) -> bool:
    return any(guarded_iter(iterable))


def _all(iterable: Iterable[Any], /) -> bool:
    return all(guarded_iter(iterable))


def _map(function: Any, iterable: Iterable[Any], /, *iterables: Iterable[Any]) -> Iterator[Any]:
    return map(function, guarded_iter(iterable), *[guarded_iter(i) for i in iterables])


def _filter(function: Any, iterable: Iterable[Any], /) -> Iterator[Any]:
    return filter(function, guarded_iter(iterable))


def _zip(*iterables: Iterable[Any], strict: bool = False) -> Iterator[tuple[Any, ...]]:
    return zip(*[guarded_iter(i) for i in iterables], strict=strict)


def _enumerate(iterable: Iterable[Any], start: int = 0) -> Iterator[tuple[int, Any]]:
    return enumerate(guarded_iter(iterable), start)


def _reversed(sequence: Any, /) -> Iterator[Any]:
    # reversed() walks by index (__reversed__ or __len__ and __getitem__), never by
    # iteration, so there is nothing to route through _getiter_.
    walk: Iterator[Any] = reversed(sequence)
    return walk


def _iter(ob: Any, *sentinel: Any) -> Iterator[Any]:
    return iter(ob, *sentinel) if sentinel else guarded_iter(ob)


def _locals() -> dict[str, Any] | GlobalsView:
    frame = sys._getframe(1)
    if frame.f_code.co_filename != FILENAME:  # handed to runtime code as a callback
        raise TypeError("locals() is available only in the script's own code")
    if frame.f_locals is frame.f_globals:
        return GlobalsView(frame.f_globals)
    return {k: v for k, v in frame.f_locals.items() if not is_sandbox_name(k)}


def _vars(*args: Any) -> Any:
    if not args:
        frame = sys._getframe(1)
        if frame.f_code.co_filename != FILENAME:
            raise TypeError("vars() is available only in the script's own code")
        if frame.f_locals is frame.f_globals:
            return GlobalsView(frame.f_globals)
        return {k: v for k, v in frame.f_locals.items() if not is_sandbox_name(k)}
    (ob,) = args
    try:
        return guarded_getattr(ob, "__dict__")
    except AttributeError as exc:
        raise TypeError(f"vars() argument: {exc}") from None


_WRAPPED: dict[str, object] = {
    "type": SCRIPT_TYPE,
    "open": open_file,
    "getattr": guarded_getattr,
    "hasattr": guarded_hasattr,
    "setattr": guarded_setattr,
    "delattr": guarded_delattr,
    "all": _all,
    "any": _any,
    "enumerate": _enumerate,
    "filter": _filter,
    "iter": _iter,
    "map": _map,
    "max": _extreme(max),
    "min": _extreme(min),
    "reversed": _reversed,
    "locals": _locals,
    "vars": _vars,
    "sorted": _sorted,
    "sum": _sum,
    "zip": _zip,
}

_EXCEPTIONS = {
    name: value
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException) and name not in BUILTINS_DENIED
}

#: The builtins every run shares; ``restricted_builtins`` adds the run's own entries.
BASE_BUILTINS: dict[str, object] = {
    **{name: getattr(builtins, name) for names in BUILTINS_AS_IS.values() for name in names},
    **_EXCEPTIONS,
    **_WRAPPED,
    "_getattr_": guarded_getattr,
    "_getitem_": guarded_getitem,
    "_getiter_": guarded_iter,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence,
    "_write_": guarded_write,
    "_inplacevar_": guarded_inplacevar,
    "_apply_": guarded_apply,
    "__metaclass__": CLASS_HOOK,
}


def restricted_builtins(
    *,
    import_hook: Callable[..., Any],
    print_function: Callable[..., None],
    input_function: Callable[..., Any],
) -> dict[str, object]:
    """A fresh builtins dict for one run: the shared entries plus print, input and import."""
    printer = ChatPrint(print_function)
    return {
        **BASE_BUILTINS,
        "_print_": printer,
        "print": printer._call_print,
        "input": input_function,
        "__import__": import_hook,
    }


def script_globals(
    *,
    poe: object,
    print_function: Callable[..., None],
    input_function: Callable[..., Any],
) -> dict[str, Any]:
    """Fresh globals: the restricted builtins (guards, import hook, chat print), and ``poe``."""
    script_builtins = restricted_builtins(
        import_hook=import_hook, print_function=print_function, input_function=input_function
    )
    # "__main__", so that `if __name__ == "__main__":` runs as authors expect.
    namespace = {"__builtins__": script_builtins, "__name__": "__main__", "poe": poe}
    view = GlobalsView(namespace)
    script_builtins["globals"] = lambda: view
    return namespace


def warm_up() -> None:
    """Import PREIMPORT and build every module proxy: for the template process, before forking."""
    for name in PREIMPORT:
        importlib.import_module(name)
    for name in LEAN_MODULES:
        module_proxy(name)
