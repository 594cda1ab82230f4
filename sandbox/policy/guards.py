"""The hooks RestrictedPython's compiled code calls: attribute, item, write and iteration
guards, in-place operators, calls with ``*``/``**``, and class creation.

The compiler turns ``a.b`` into ``_getattr_(a, "b")``, ``a[b]`` into ``_getitem_(a, b)``,
``a.b = c`` into ``_write_(a).b = c``, ``for x in y`` into ``_getiter_(y)`` and so on; this
module answers those calls (namespace.py hands them over, with the builtins). The POLICY
section is the whole decision, as data with a reason per entry; the code below it only
enforces it. Nothing here does I/O.
"""

from __future__ import annotations

import abc
import builtins
import collections
import decimal
import enum
import inspect
import io
import operator
import string
import types
import typing
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NoReturn

import pydantic
from RestrictedPython.transformer import INSPECT_ATTRIBUTES

from sandbox.policy.compiler import FILENAME, READABLE_DUNDERS, SCRIPT_DUNDERS


def _names(names: str) -> tuple[str, ...]:
    return tuple(names.split())


# -- POLICY ------------------------------------------------------------------------------
# Attribute names starting with "_" are refused on every object (the compiler refuses them
# in source, _getattr_ at run time), except READABLE_DUNDERS (plain strings) and
# SCRIPT_DUNDERS reached through ``super()`` inside a script class (both in compiler.py).
# INSPECT_ATTRIBUTES (RestrictedPython's: gi_frame, tb_frame, f_globals, co_code, ...) are
# refused on every object: they lead to frames and code, and from there to real globals.

#: Attributes refused on instances of a type and on the type and its subclasses.
DENIED_ATTRIBUTES: dict[type, dict[str, str]] = {
    str: {
        "format": "format fields walk attributes ({0.__class__}) past the guards; use f-strings",
        "format_map": "the same field walk as str.format",
    },
    collections.UserString: {
        "format": "calls str.format on its text",
        "format_map": "calls str.format_map on its text",
    },
    string.Formatter: {
        name: "string.Formatter walks format fields past the guards"
        for name in ("format", "vformat", "get_field", "get_value", "parse", "convert_field")
    },
    io.BytesIO: {"getbuffer": "a memoryview, as the denied builtin"},
    AttributeError: {"obj": "the object a failed lookup was made on: may be runtime-internal"},
    type: {"mro": "hands out base classes: the real enum.Enum, pydantic.BaseModel, object"},
    abc.ABCMeta: {"register": "adds a virtual subclass: changes isinstance() in runtime code"},
}

_UNDECLARED = "lets undeclared keys in: values no field validates, of any type"

#: Parameters refused on methods of a type (the methods stay available without them, or
#: with None).
DENIED_PARAMETERS: dict[type, dict[str, dict[str, str]]] = {
    pydantic.BaseModel: {
        "model_json_schema": {
            "schema_generator": "is handed the model's private core schema (bound private "
            "methods, the class's own dicts)",
        },
        "model_copy": {
            "update": "skips validation, as model_construct: hands the runtime objects of "
            "unchecked types",
        },
        "model_validate": {
            "from_attributes": "reads the attributes of any object, past this guard",
            "extra": _UNDECLARED,
        },
        "model_validate_json": {"extra": _UNDECLARED},
    },
}

#: All a script may read on a pydantic model (fastapi_poe's protocol types; scripts cannot
#: make models, see ALLOWED_METACLASSES), its class and ``super()`` over either: the
#: model's declared fields (the keys of the real class's model_fields), and these methods.
#: Anything else is refused: pydantic's public surface is large and some of it reaches
#: eval (model_rebuild, update_forward_refs, FieldInfo via model_fields), pickle
#: (parse_raw), files (parse_file) or unvalidated objects (model_construct).
PYDANTIC_MODEL_METHODS: dict[str, str] = {
    "model_dump": "the field values as plain dicts and lists",
    "model_dump_json": "the field values as JSON text",
    "model_copy": "a copy of a model (update= refused, above)",
    "model_validate": "a validated model from a dict (from_attributes= and extra= refused)",
    "model_validate_json": "a validated model from JSON text: JSON only, never pickle",
    "model_json_schema": "the JSON schema as a dict (schema_generator= refused, above)",
}
#: Objects of pydantic's other types (FieldInfo, ComputedFieldInfo, ...: their classes are
#: defined in these modules), and those classes, have no attribute a script may read.
PYDANTIC_INTERNAL_MODULES: dict[str, str] = {
    "pydantic": "FieldInfo builds and evaluates annotations (apply_typevars_map runs eval); "
    "scripts need none of pydantic's own objects",
}

#: Objects whose items and attributes a script may set, besides its own classes' objects.
WRITABLE_TYPES: dict[type, str] = {
    **dict.fromkeys(
        (
            dict,
            list,
            bytearray,
            *(
                getattr(collections, name)
                for name in _names("OrderedDict defaultdict Counter deque ChainMap UserDict")
            ),
        ),
        "containers (counts[w] += 1); any the runtime hands out are its business to copy: "
        "nothing of them outlives the run",
    ),
    collections.UserList: "as UserDict",
    decimal.Context: "decimal.getcontext().prec = 50: validated numbers of this run's context",
}

#: Modules (or packages, by their top-level name) whose objects a script may change, its
#: own or not: they hold the run's data only (``ws["A1"] = 3``, ``msg["Subject"] = ...``,
#: ``df["c"] = ...``); the runtime uses none of their objects. Classes stay read-only.
#: modules.py adds the preinstalled packages it allows (WRITABLE_PACKAGES there).
WRITABLE_MODULES: dict[str, str] = {
    **dict.fromkeys(
        _names("email xml sqlite3 configparser http.cookies array zipfile tarfile csv"),
        "documents, archives and databases the script builds (sqlite3: row_factory)",
    ),
    "types": "types.SimpleNamespace",
    "threading": "threads the script starts (daemon=); the runtime's are not reachable",
    "logging": "loggers and handlers: the runtime never logs in the child",
}

#: Metaclasses a script class may end up with (through its bases); any other is refused.
ALLOWED_METACLASSES: dict[type, str] = {
    type: "plain classes and exceptions",
    abc.ABCMeta: "collections.abc bases; only registers subclasses",
    type(typing.Protocol): "typing.Protocol (an ABCMeta)",
    typing.NamedTupleMeta: "typing.NamedTuple: builds with collections.namedtuple",  # type: ignore[attr-defined]
    typing._TypedDictMeta: "typing.TypedDict: a dict subclass",  # type: ignore[attr-defined]
    enum.EnumType: "enum.Enum and friends, as ScriptEnumType (below): checked functional API",
    # pydantic's ModelMetaclass is refused: it evaluates string annotations with eval, in
    # a namespace the class names (its __module__), with the real builtins.
}

#: Builtins refused wherever an attribute read leads to them (by identity), and values of
#: these types: a second line behind the module proxies, for paths nobody thought of.
DENIED_VALUES: dict[str, str] = {
    **dict.fromkeys(_names("eval exec compile"), "new code that skips the restricted compiler"),
    **dict.fromkeys(_names("globals locals vars dir"), "namespace introspection"),
    "open": "files",
    "__import__": "the real import",
    **dict.fromkeys(_names("getattr setattr delattr"), "unguarded attribute access"),
    "breakpoint": "the debugger",
}
DENIED_VALUE_TYPES: dict[type, str] = {
    types.ModuleType: "modules come only from import statements, as read-only proxies",
    types.FrameType: "frames hold real globals and builtins",
    types.CodeType: "code objects can be turned into functions",
    types.TracebackType: "tracebacks lead to frames",
}

# -- enforcement --------------------------------------------------------------------------

_MISSING: Any = object()
_script_classes: weakref.WeakSet[type] = weakref.WeakSet()
_DENIED_VALUE_IDS = frozenset(id(getattr(builtins, name)) for name in DENIED_VALUES)
_TYPE_CHECKED_NAMES = frozenset(name for names in DENIED_ATTRIBUTES.values() for name in names)
_PARAMETER_CHECKED_NAMES = frozenset(
    name for methods in DENIED_PARAMETERS.values() for name in methods
)
_CHECKED_NAMES = _TYPE_CHECKED_NAMES | _PARAMETER_CHECKED_NAMES | INSPECT_ATTRIBUTES


def deny_attributes(owner: type, names: dict[str, str]) -> None:
    """Add ``names`` of ``owner`` to DENIED_ATTRIBUTES: for types of packages, known only
    once a run imports them (modules.py calls this when it builds their proxy)."""
    global _TYPE_CHECKED_NAMES, _CHECKED_NAMES
    DENIED_ATTRIBUTES.setdefault(owner, {}).update(names)
    _TYPE_CHECKED_NAMES = _TYPE_CHECKED_NAMES | frozenset(names)
    _CHECKED_NAMES = _CHECKED_NAMES | frozenset(names)


def allow_writes(module: str, reason: str) -> None:
    """Add ``module`` to WRITABLE_MODULES (modules.py, for the packages it allows)."""
    WRITABLE_MODULES[module] = reason
    _writable_by_module.clear()


_writable_by_module: dict[type, bool] = {}


def _in_writable_module(cls: type) -> bool:
    writable = _writable_by_module.get(cls)
    if writable is None:
        module = getattr(cls, "__module__", None)
        writable = type(module) is str and any(
            module == name or module.startswith(name + ".") for name in WRITABLE_MODULES
        )
        _writable_by_module[cls] = writable
    return writable


def register_script_class(cls: type) -> type:
    """Mark ``cls`` as made by the script: its objects (and itself) are the script's to write."""
    _script_classes.add(cls)
    return cls


def is_script_class(cls: object) -> bool:
    return isinstance(cls, type) and cls in _script_classes


def is_script_object(ob: object) -> bool:
    """The script's own: a class it defined, an object of one, or a function it defined."""
    if type(ob) in _script_classes or is_script_class(ob):
        return True
    return isinstance(ob, types.FunctionType) and ob.__code__.co_filename == FILENAME


def _plain_name(name: object) -> str:
    # A str subclass may override __eq__, __hash__ and startswith: only a real str is a name.
    if type(name) is not str:
        raise TypeError(f"attribute name must be a string, not {type(name).__name__!r}")
    return name


def _refused(ob: object, name: str, reason: str) -> AttributeError:
    kind = ob.__name__ if isinstance(ob, type) else type(ob).__name__
    return AttributeError(f"{kind}.{name} is not available to scripts: {reason}")


def _check_typed(ob: object, name: str) -> None:
    for owner, names in DENIED_ATTRIBUTES.items():
        if name in names and (
            isinstance(ob, owner) or (isinstance(ob, type) and issubclass(ob, owner))
        ):
            raise _refused(ob, name, names[name])


_PYDANTIC_METHOD_NAMES = frozenset(PYDANTIC_MODEL_METHODS)
_PYDANTIC_MODEL_REASON = "pydantic models offer scripts their fields and " + ", ".join(
    PYDANTIC_MODEL_METHODS
)
_MODEL_METACLASS = type(pydantic.BaseModel)  # of every model class: fastapi_poe's all
# A field named like a BaseModel attribute reads as that attribute on the class: never.
_BASE_MODEL_NAMES = frozenset(dir(pydantic.BaseModel))
_model_names: dict[type, frozenset[str]] = {}  # per model class: fields and methods


def _check_pydantic(ob: object, name: str) -> None:
    """Refuse ``name`` unless PYDANTIC_MODEL_METHODS or a field allows it (for pydantic's
    objects; any other object passes)."""
    cls = type(ob)
    if cls in _PLAIN_VALUE_TYPES:  # the common case, kept short: str, list, dict, ...
        return
    if isinstance(ob, type):
        cls = ob
    elif cls is super:  # super(M, m) reads M's bases' attributes on m: judged as m
        cls = ob.__self_class__  # type: ignore[attr-defined]
        if cls is None:
            return
    if isinstance(cls, _MODEL_METACLASS):
        names = _model_names.get(cls)
        if names is None:  # the real class's fields: the script has no say in them
            fields = frozenset(cls.model_fields) - _BASE_MODEL_NAMES
            names = _model_names[cls] = _PYDANTIC_METHOD_NAMES | fields
        if name not in names:
            raise _refused(ob, name, _PYDANTIC_MODEL_REASON)
        return
    module = cls.__module__  # FieldInfo's "pydantic.fields" (pydantic_core's is apart)
    if type(module) is str and module.partition(".")[0] in PYDANTIC_INTERNAL_MODULES:
        raise _refused(ob, name, PYDANTIC_INTERNAL_MODULES[module.partition(".")[0]])


def _check_read(ob: object, name: str) -> None:
    if name[:1] == "_":
        if name in READABLE_DUNDERS:
            return
        if (
            name in SCRIPT_DUNDERS
            and type(ob) is super
            and is_script_class(ob.__thisclass__)  # type: ignore[attr-defined]
            # bound to an object of the script's (super(S, S) would hand out the base's
            # plain functions, which work on any object of that base: runtime ones too)
            and is_script_class(type(ob.__self__))  # type: ignore[attr-defined]
        ):
            return
        raise AttributeError(
            f'"{name}" is not available to scripts: names starting with "_" are private'
        )
    if name in INSPECT_ATTRIBUTES:
        raise AttributeError(f'"{name}" is not available to scripts: it leads to frames or code')
    if name in _TYPE_CHECKED_NAMES:
        _check_typed(ob, name)
        if type(ob) is super:  # super(S, s).format is str.format bound to s
            _check_typed(ob.__self__, name)  # type: ignore[attr-defined]


# Values that need no closer look: common results of attribute reads, known by type alone
# (builtin functions are not among them: eval is one).
_PLAIN_VALUE_TYPES = frozenset(
    (str, int, float, bool, type(None), bytes, list, dict, tuple, set, frozenset)
).union((types.MethodType, types.FunctionType, types.MethodWrapperType))


def _check_value(name: str, value: Any) -> Any:
    if name in READABLE_DUNDERS and type(value) not in (str, type(None)):
        raise AttributeError(f'"{name}" is not available to scripts here')
    if type(value) in DENIED_VALUE_TYPES:
        reason = DENIED_VALUE_TYPES[type(value)]
        raise AttributeError(f'"{name}" is not available to scripts: {reason}')
    if id(value) in _DENIED_VALUE_IDS:
        raise AttributeError(f'"{name}" is not available to scripts: it is a denied builtin')
    if isinstance(value, type) and issubclass(value, type):
        if value is type:
            return SCRIPT_TYPE
        raise AttributeError(f'"{name}" is not available to scripts: it is a metaclass')
    return value


class _CheckedCall:
    """A method handed out without the DENIED_PARAMETERS of its owner."""

    __slots__ = ("_denied", "_func", "_name")

    def __init__(self, func: Callable[..., Any], name: str, denied: dict[str, str]) -> None:
        self._func, self._name, self._denied = func, name, denied

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # Bound by the method's own signature: positional spellings are caught too.
        bound = inspect.signature(self._func).bind(*args, **kwargs)
        for param, reason in self._denied.items():
            if bound.arguments.get(param) is not None:  # None is the default of both
                raise TypeError(f"{self._name}({param}=...) is not available to scripts: {reason}")
        return self._func(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<checked {self._name}>"


def _check_parameters(ob: object, name: str, value: Any) -> Any:
    for owner, methods in DENIED_PARAMETERS.items():
        if name in methods and (
            isinstance(ob, owner) or (isinstance(ob, type) and issubclass(ob, owner))
        ):
            kind = ob.__name__ if isinstance(ob, type) else type(ob).__name__
            return _CheckedCall(value, f"{kind}.{name}", methods[name])
    return value


def guarded_getattr(ob: object, name: str, default: Any = _MISSING) -> Any:
    """``_getattr_`` and the ``getattr`` builtin: raises AttributeError on refusal."""
    if type(name) is not str:
        _plain_name(name)  # raises
    try:
        if name[:1] == "_" or name in _CHECKED_NAMES:
            _check_read(ob, name)
            if name[:1] != "_":  # the rest are READABLE_DUNDERS: a str or None
                _check_pydantic(ob, name)
            value = _check_value(name, getattr(ob, name))
            if name in _PARAMETER_CHECKED_NAMES:
                return _check_parameters(ob, name, value)
            return value
        _check_pydantic(ob, name)
        value = getattr(ob, name)  # the common case, kept short: every attribute read
        return value if type(value) in _PLAIN_VALUE_TYPES else _check_value(name, value)
    except AttributeError:
        if default is _MISSING:
            raise
        return default


def guarded_hasattr(ob: object, name: str) -> bool:
    try:
        guarded_getattr(ob, name)
    except AttributeError:
        return False
    return True


def guarded_getitem(ob: Any, index: Any) -> Any:
    """``_getitem_``: items refuse nothing; every reachable container is the script's to read."""
    return ob[index]


def guarded_iter(ob: Any) -> Iterator[Any]:
    """``_getiter_``: refuses nothing (as _getitem_); the one place a future check would go."""
    return iter(ob)


class _ReadOnly:
    """What ``_write_`` returns for an object the script may not change."""

    __slots__ = ("_ob",)

    def __init__(self, ob: object) -> None:
        object.__setattr__(self, "_ob", ob)

    def _kind(self) -> str:
        ob = object.__getattribute__(self, "_ob")
        return f"class {ob.__name__}" if isinstance(ob, type) else f"a {type(ob).__name__} object"

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(
            f"cannot set {name!r} on {self._kind()}: scripts change only their own objects"
        )

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(
            f"cannot delete {name!r} of {self._kind()}: scripts change only their own objects"
        )

    def __setitem__(self, key: object, value: object) -> NoReturn:
        raise TypeError(f"cannot set items of {self._kind()}: it is shared, not the script's")

    def __delitem__(self, key: object) -> NoReturn:
        raise TypeError(f"cannot delete items of {self._kind()}: it is shared, not the script's")


def guarded_write(ob: Any) -> Any:
    """``_write_``: the object itself when the script may change it, else a refusing stand-in."""
    if type(ob) in WRITABLE_TYPES or is_script_object(ob):
        return ob
    if not isinstance(ob, type) and _in_writable_module(type(ob)):
        return ob
    return _ReadOnly(ob)


def _public_name(name: object) -> str:
    name = _plain_name(name)
    if name[:1] == "_":
        raise AttributeError(f'"{name}" is not available to scripts: names starting with "_"')
    return name


def guarded_setattr(ob: object, name: str, value: object) -> None:
    setattr(guarded_write(ob), _public_name(name), value)


def guarded_delattr(ob: object, name: str) -> None:
    delattr(guarded_write(ob), _public_name(name))


_INPLACE: dict[str, Callable[[Any, Any], Any]] = {
    "+=": operator.iadd,
    "-=": operator.isub,
    "*=": operator.imul,
    "/=": operator.itruediv,
    "//=": operator.ifloordiv,
    "%=": operator.imod,
    "**=": operator.ipow,
    "<<=": operator.ilshift,
    ">>=": operator.irshift,
    "&=": operator.iand,
    "|=": operator.ior,
    "^=": operator.ixor,
    "@=": operator.imatmul,
}


def guarded_inplacevar(op: str, target: Any, value: Any) -> Any:
    """``_inplacevar_``: ``x += y`` with Python's semantics (``__iadd__``, e.g. Chat's)."""
    return _INPLACE[op](target, value)


def guarded_apply(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``_apply_`` (calls with ``*``/``**``): no private keyword parameters of library code."""
    for key in kwargs:
        _public_name(key)
    return func(*args, **kwargs)


class _ScriptType:
    """The script's ``type``: ``type(x)`` with one argument, and never a metaclass.

    The real ``type`` called with three arguments makes a class past ``__metaclass__``; with
    a pydantic base that evaluates attacker strings. So ``type(SomeClass)`` answers this
    object again, which also stands in for ``type`` in isinstance, issubclass and type[X]."""

    __slots__ = ()

    def __call__(self, *args: object) -> object:
        if len(args) != 1:
            raise TypeError("type() takes one argument in scripts; use a class statement")
        cls = type(args[0])
        return self if issubclass(cls, type) or args[0] is self else cls

    def __instancecheck__(self, ob: object) -> bool:
        return isinstance(ob, type)

    def __subclasscheck__(self, cls: object) -> bool:
        return cls is self or issubclass(cls, type)  # type: ignore[arg-type]

    def __getitem__(self, item: object) -> object:
        return typing.Type[item]  # noqa: UP006  # refuses to be called, unlike type[item]

    def __repr__(self) -> str:
        return "<class 'type'>"


SCRIPT_TYPE = _ScriptType()


class ScriptEnumType(enum.EnumType):
    """The metaclass of a script's enums: the functional API takes public member names only.

    ``Enum("E", {"__getattribute__": f})`` would otherwise give a class special methods
    the compiler never saw (objects that lie to isinstance, for one)."""

    def _create_(cls, class_name: str, names: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if isinstance(names, str):
            items: list[Any] = names.replace(",", " ").split()
        elif isinstance(names, Mapping):
            items = [tuple(item) for item in names.items()]
        else:  # a list of names, or of (name, value) pairs: read once, checked, passed on
            items = [item if isinstance(item, str) else tuple(item) for item in names]
        for item in items:
            name = item if isinstance(item, str) else item[0] if item else None
            if type(name) is not str or name.startswith("_"):
                raise ValueError(f"enum member names in scripts must be public strings: {name!r}")
        return super()._create_(class_name, items, **kwargs)


def _metaclass_for(name: str, bases: tuple[object, ...]) -> type:
    winner: type = type
    for base in bases:
        if not isinstance(base, type):
            raise TypeError(f"class {name}: base {base!r} is not a class")
        if issubclass(base, type):
            raise TypeError(f"class {name}: scripts cannot define metaclasses")
        meta = type(base)
        if issubclass(meta, winner):
            winner = meta
        elif not issubclass(winner, meta):
            raise TypeError(f"class {name}: metaclass conflict among its bases")
    if winner is ScriptEnumType:  # deriving from a script's own enum
        winner = enum.EnumType
    if winner not in ALLOWED_METACLASSES:
        raise TypeError(
            f"class {name}: cannot derive from classes with metaclass {winner.__name__} in scripts"
        )
    return ScriptEnumType if winner is enum.EnumType else winner


class _ClassHook:
    """``__metaclass__``: every class statement of a script goes through here."""

    __slots__ = ()

    def __prepare__(self, name: str, bases: tuple[object, ...], **kwargs: Any) -> Any:
        return _metaclass_for(name, bases).__prepare__(name, bases, **kwargs)

    def __call__(self, name: str, bases: tuple[object, ...], ns: Any, **kwargs: Any) -> type:
        return register_script_class(_metaclass_for(name, bases)(name, bases, ns, **kwargs))


CLASS_HOOK = _ClassHook()
