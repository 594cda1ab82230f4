"""The hooks RestrictedPython's compiled code calls: attribute, item, write and iteration
guards, in-place operators, calls with ``*``/``**``, and class creation.

The compiler turns ``a.b`` into ``_getattr_(a, "b")``, ``a[b]`` into ``_getitem_(a, b)``,
``a.b = c`` into ``_write_(a).b = c``, ``for x in y`` into ``_getiter_(y)`` and so on; this
module answers those calls (namespace.py hands them over, with the builtins). The POLICY
section is the whole decision, as data with a reason per entry; the code below it only
enforces it. Nothing here does I/O.
"""

from __future__ import annotations

import _string
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
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any, NoReturn, TypeGuard

import pydantic
from RestrictedPython.transformer import INSPECT_ATTRIBUTES

from sandbox.policy.compiler import FILENAME, SANDBOX_NAMES, TEMPORARY_NAME, UNWRITABLE_ATTRIBUTES


def _names(names: str) -> tuple[str, ...]:
    return tuple(names.split())


# -- POLICY ------------------------------------------------------------------------------
# A script reads any attribute of any object, its own private ones included, except what
# the tables below name. Each read is judged by what it reaches: the object it is made on
# (the script's own, or shared: made by the runtime or a library), the name, and the value
# it returns. Proxies that forward reads (typing aliases) are judged by what they forward to.

#: Refused on every object: they lead to frames, code, the real builtins, every class of
#: the process or the import machinery, and from there past every guard.
DENIED_EVERYWHERE: dict[str, str] = {
    **dict.fromkeys(INSPECT_ATTRIBUTES, "leads to frames or code, and from there to real globals"),
    "__code__": "a code object can be made into a function that skips the compiler",
    "__builtins__": "a function's real builtins",
    "__subclasses__": "every subclass in the process, the runtime's own among them",
    **dict.fromkeys(
        _names("mro __mro__ __bases__ __base__ __orig_bases__"),
        "hands out base classes: the real enum.Enum, pydantic.BaseModel (whose metaclass "
        "evaluates strings), typing's internals",
    ),
    **dict.fromkeys(_names("__loader__ __spec__ __import__"), "the import machinery"),
}

#: Refused unless the object read is the script's own (a class it defined, an object of one,
#: a function it defined): on shared objects they expose internals or change shared state.
OWN_OBJECTS_ONLY: dict[str, str] = {
    "__dict__": "another object's private state (vars() reads it too)",
    "__globals__": "the real globals of runtime or library code (a script function's give a "
    "view of the script's own globals, without the guards)",
    "__closure__": "the variables runtime code closed over",
    **dict.fromkeys(_names("__defaults__ __kwdefaults__"), "runtime code's default objects"),
    **dict.fromkeys(
        _names("__reduce__ __reduce_ex__ __getstate__ __getnewargs__ __getnewargs_ex__"),
        "reconstruction protocols hand out an object's private state",
    ),
    "__setstate__": "overwrites an object's state past _write_",
    **dict.fromkeys(_names("__set__ __delete__"), "runs a descriptor's setter past _write_"),
}

#: Refused unless the value they reach is the script's own (or a plain value): they unwrap
#: one object into another.
OWN_VALUES_ONLY: dict[str, str] = {
    "__self__": "the object a method is bound to (print.__self__ is the builtins module)",
    **dict.fromkeys(_names("__func__ __wrapped__"), "the function under a method or decorator"),
    **dict.fromkeys(_names("fset fdel"), "a property's setter runs on any object past _write_"),
}

#: Special methods of attribute access, handed out checked: ``object.__getattribute__(x,
#: name)`` passes this guard, ``object.__setattr__(x, name, value)`` the write guard.
CHECKED_SLOTS: dict[str, str] = {
    **dict.fromkeys(_names("__getattribute__ __getattr__"), "an attribute read by hand"),
    **dict.fromkeys(_names("__setattr__ __delattr__"), "an attribute write by hand"),
    "__init__": "initializes an object: only one the script may change (run again on a "
    "runtime object, it would reset the runtime's state)",
}

#: Attributes whose value must be text (str or None) on shared objects.
TEXT_ATTRIBUTES: frozenset[str] = frozenset(_names("__name__ __qualname__ __doc__ __module__"))

#: Names starting with "_" (but not special ``__x__`` names) are private: readable where the
#: script defined them (its classes, its objects' dicts, its functions), refused on shared
#: objects. Subclassing a runtime class does not open the runtime's private state: on objects
#: of classes with a base from these packages, private names must come from the script's
#: classes. These are public API despite the underscore:
PUBLIC_PRIVATE_NAMES: dict[type, dict[str, str]] = {
    tuple: dict.fromkeys(
        _names("_asdict _replace _fields _make _field_defaults"), "namedtuple's documented API"
    ),
}
RUNTIME_PACKAGES: dict[str, str] = {
    "sandbox": "the runtime: its objects hold the run's channel",
}
#: Shared types whose ``__dict__`` is only their public data.
PUBLIC_DICT_TYPES: dict[type, str] = {
    types.SimpleNamespace: "its attributes are its data (vars(namespace) is common)",
}

#: Attributes refused on instances of a type and on the type and its subclasses.
DENIED_ATTRIBUTES: dict[type, dict[str, str]] = {
    io.BytesIO: {"getbuffer": "a memoryview, as the denied builtin"},
    AttributeError: {"obj": "the object a failed lookup was made on: may be runtime-internal"},
    abc.ABCMeta: {"register": "adds a virtual subclass: changes isinstance() in runtime code"},
}

#: Methods replaced on reading, with the reason: str.format walks ``{0.attr[key]}`` fields
#: with the real getattr; the replacements walk them through this guard.
GUARDED_FORMAT_METHODS: dict[str, str] = {
    "format": "format fields read attributes and items: through _getattr_ and _getitem_",
    "format_map": "as format",
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
    **dict.fromkeys(
        (weakref.WeakValueDictionary, weakref.WeakKeyDictionary, weakref.WeakSet),
        "containers of the script's, holding their items weakly",
    ),
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
    # (Private metaclasses of typing: typeshed does not declare them.)
    typing.NamedTupleMeta: "typing.NamedTuple: builds with collections.namedtuple",  # type: ignore[attr-defined]
    typing._TypedDictMeta: "typing.TypedDict: a dict subclass",  # type: ignore[attr-defined]
    enum.EnumType: "enum.Enum and friends, as ScriptEnumType (below): checked functional API",
    # pydantic's ModelMetaclass is refused: it evaluates string annotations with eval, in
    # a namespace the class names (its __module__), with the real builtins.
}

#: Builtins refused wherever an attribute or item read leads to them (by identity), and
#: values of these types: a second line behind the module proxies, for paths nobody thought of.
DENIED_VALUES: dict[str, str] = {
    **dict.fromkeys(_names("eval exec compile"), "new code that skips the restricted compiler"),
    **dict.fromkeys(_names("globals locals vars"), "the real ones (scripts get views)"),
    "open": "files",
    "__import__": "the real import",
    **dict.fromkeys(_names("getattr setattr delattr"), "unguarded attribute access"),
    **dict.fromkeys(_names("print input"), "the process's own stdout and stdin, not the chat"),
    "breakpoint": "the debugger",
    "memoryview": "raw buffer views were the route of CPython memory bugs",
}
DENIED_VALUE_TYPES: dict[type, str] = {
    types.ModuleType: "modules come only from import statements, as read-only proxies",
    types.FrameType: "frames hold real globals and builtins",
    types.CodeType: "code objects can be turned into functions",
    types.TracebackType: "tracebacks lead to frames",
    memoryview: DENIED_VALUES["memoryview"],
}

# -- enforcement --------------------------------------------------------------------------

_MISSING: Any = object()
_script_classes: weakref.WeakSet[type] = weakref.WeakSet()
_runtime_based: weakref.WeakKeyDictionary[type, bool] = weakref.WeakKeyDictionary()
_DENIED_VALUE_IDS = frozenset(id(getattr(builtins, name)) for name in DENIED_VALUES)
_TYPE_CHECKED_NAMES = frozenset(name for names in DENIED_ATTRIBUTES.values() for name in names)
_PARAMETER_CHECKED_NAMES = frozenset(
    name for methods in DENIED_PARAMETERS.values() for name in methods
)
_PUBLIC_PRIVATE = frozenset(name for names in PUBLIC_PRIVATE_NAMES.values() for name in names)
# Public names that need a closer look than the common path (every "_" name gets one).
_CHECKED_NAMES = (
    _TYPE_CHECKED_NAMES
    | _PARAMETER_CHECKED_NAMES
    | frozenset(DENIED_EVERYWHERE)
    | frozenset(OWN_VALUES_ONLY)
    | frozenset(GUARDED_FORMAT_METHODS)
)
_class_dict = type.__dict__["__dict__"].__get__  # a class's own namespace, past its metaclass
_class_mro = type.__dict__["__mro__"].__get__
_READ_SLOTS = frozenset(_names("__getattribute__ __getattr__"))
_MARK = "__metaclass__"  # a SANDBOX_NAMES entry: class bodies cannot bind it


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
    """Made by the script's class statements (or type()): the class hook marks each one in
    its namespace, under a name scripts cannot bind, so the mark is there from the start
    (``__init_subclass__`` of a base runs before the class exists) and copies of the class
    (``dataclass(slots=True)``) keep it."""
    if not issubclass(type(cls), type):
        return False
    return cls in _script_classes or _class_dict(cls).get(_MARK) is CLASS_HOOK


def is_script_function(ob: object) -> bool:
    return isinstance(ob, types.FunctionType) and ob.__code__.co_filename == FILENAME


def is_script_object(ob: object) -> bool:
    """The script's own: a class it defined, an object of one, or a function it defined."""
    return is_script_class(type(ob)) or is_script_class(ob) or is_script_function(ob)


def _is_class(ob: object) -> TypeGuard[type]:
    return issubclass(type(ob), type)  # not isinstance: that asks ob.__class__, a script's say


def _runtime_based_class(cls: type) -> bool:
    """Whether a script class derives from a class of RUNTIME_PACKAGES (whose objects'
    private state stays the runtime's)."""
    based = _runtime_based.get(cls)
    if based is None:
        based = False
        for base in _class_mro(cls):
            module = _class_dict(base).get("__module__")
            if not is_script_class(base) and type(module) is str:
                based = based or module.partition(".")[0] in RUNTIME_PACKAGES
        _runtime_based[cls] = based
    return based


def _own_object(ob: object) -> bool:
    """The script's own object, and not one whose private state is the runtime's."""
    if not is_script_object(ob):
        return False
    return _is_class(ob) or not _runtime_based_class(type(ob))


def _owner(classes: tuple[type, ...], name: str) -> type | None:
    for cls in classes:
        if name in _class_dict(cls):
            return cls
    return None


def _is_data_descriptor(value: object) -> bool:
    kind = type(value)
    return hasattr(kind, "__set__") or hasattr(kind, "__delete__")


def _private_is_scripts(ob: object, name: str) -> bool:
    """Whether ``ob.<name>`` (a private name) comes from the script's own definitions."""
    instance_dict = None
    if type(ob) is super:  # super() reads the bases after __thisclass__, never the instance
        # (typeshed's super declares none of __self__, __self_class__, __thisclass__.)
        start = ob.__self_class__  # type: ignore[attr-defined]
        if start is None:
            return False
        mro = _class_mro(start)
        classes = mro[mro.index(ob.__thisclass__) + 1 :]  # type: ignore[attr-defined]
    elif _is_class(ob):
        classes = _class_mro(ob)
    else:
        classes = _class_mro(type(ob))
        if _own_object(ob):
            try:
                instance_dict = object.__getattribute__(ob, "__dict__")
            except AttributeError:
                instance_dict = None
    owner = _owner(classes, name)
    in_instance = type(instance_dict) is dict and name in instance_dict
    if in_instance and (owner is None or not _is_data_descriptor(_class_dict(owner)[name])):
        return True
    if owner is not None:
        return is_script_class(owner)
    if _is_class(ob) and _owner(_class_mro(type(ob)), name) is not None:
        return False  # the metaclass's (EnumType._create_, ...)
    # In no class: the object's own dict (shared objects' is theirs; on the script's objects
    # of runtime-based classes, the runtime keeps its state in slots, found above), or a
    # __getattr__, the script's or a shared class's.
    if not is_script_object(ob) and type(ob) is not super:
        return False
    answering = _owner(classes, "__getattr__")
    return answering is None or is_script_class(answering)


def _plain_name(name: object) -> str:
    # A str subclass may override __eq__, __hash__ and startswith: only a real str is a name.
    if type(name) is not str:
        raise TypeError(f"attribute name must be a string, not {type(name).__name__!r}")
    return name


def _refused(ob: object, name: str, reason: str) -> AttributeError:
    kind = ob.__name__ if _is_class(ob) else type(ob).__name__
    return AttributeError(f"{kind}.{name} is not available to scripts: {reason}")


def _check_typed(ob: object, name: str) -> None:
    for owner, names in DENIED_ATTRIBUTES.items():
        if name in names and (isinstance(ob, owner) or (_is_class(ob) and issubclass(ob, owner))):
            raise _refused(ob, name, names[name])


def _is_special(name: str) -> bool:
    return len(name) > 4 and name[:2] == "__" and name[-2:] == "__"


def _public_private(ob: object, name: str) -> bool:
    if name not in _PUBLIC_PRIVATE:
        return False
    cls = ob if _is_class(ob) else type(ob)
    return any(
        issubclass(cls, owner) and name in names for owner, names in PUBLIC_PRIVATE_NAMES.items()
    )


def _check_name(ob: object, name: str) -> None:
    """Refuse ``ob.<name>`` before it is read, by the tables above."""
    if name in DENIED_EVERYWHERE:
        raise _refused(ob, name, DENIED_EVERYWHERE[name])
    if name[:1] == "_":
        if _is_special(name):
            if name in OWN_OBJECTS_ONLY and not (_own_object(ob) or type(ob) in PUBLIC_DICT_TYPES):
                raise _refused(ob, name, OWN_OBJECTS_ONLY[name])
        elif not _public_private(ob, name) and not _private_is_scripts(ob, name):
            raise _refused(ob, name, "private to the runtime or library that made it")
    if name in _TYPE_CHECKED_NAMES:
        _check_typed(ob, name)
        if type(ob) is super:  # super(S, s).getbuffer is BytesIO.getbuffer bound to s
            _check_typed(ob.__self__, name)  # type: ignore[attr-defined]
    if name not in TEXT_ATTRIBUTES:
        _check_pydantic(ob, name)


def _check_result(ob: object, name: str, value: Any) -> Any:
    """What ``ob.<name>`` hands out: checked, wrapped or refused, by the tables above."""
    if name in OWN_VALUES_ONLY and not (
        value is None
        or (type(value) in _PLAIN_VALUE_TYPES and not callable(value))
        or is_script_object(value)
    ):
        raise _refused(ob, name, OWN_VALUES_ONLY[name])
    if name in CHECKED_SLOTS:
        return _CheckedSlot(name, value)
    if name in GUARDED_FORMAT_METHODS:
        text = ob.__self__ if type(ob) is super else ob  # type: ignore[attr-defined]
        if isinstance(text, str | collections.UserString) or (
            _is_class(text) and issubclass(text, str | collections.UserString)
        ):
            return guarded_format_method(text, name)
    if name == "__globals__":  # only a script function's reaches here
        return GlobalsView(value)
    if name in TEXT_ATTRIBUTES and type(value) not in (str, type(None)) and not _own_object(ob):
        raise _refused(ob, name, "it is not text here")
    return _check_value(name, value)


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


# Values that need no closer look: common results of attribute reads, known by type alone
# (builtin functions are not among them: eval is one).
_PLAIN_VALUE_TYPES = frozenset(
    (str, int, float, bool, type(None), bytes, list, dict, tuple, set, frozenset)
).union((types.MethodType, types.FunctionType, types.MethodWrapperType))


def _check_value(name: str, value: Any) -> Any:
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


_TYPING_ALIAS = typing._BaseGenericAlias  # type: ignore[attr-defined]  # private: not in typeshed
#: What ``list[int]`` (types.GenericAlias) answers itself; it forwards every other name.
_GENERIC_ALIAS_OWN = frozenset(
    _names(
        "__class__ __origin__ __args__ __unpacked__ __parameters__ "
        "__typing_unpacked_tuple_args__ __mro_entries__ __reduce_ex__ __reduce__ __copy__ "
        "__deepcopy__"
    )
)


def _forwarded_to(ob: object, name: str) -> object:
    """The object a typing alias forwards ``<name>`` to (``Annotated[C, 0].x`` is ``C.x``),
    or _MISSING when the alias answers it itself."""
    kind = type(ob)
    if kind is types.GenericAlias:
        # (``kind`` is ob's type: mypy narrows ob itself by no such variable.)
        return _MISSING if name in _GENERIC_ALIAS_OWN else ob.__origin__  # type: ignore[attr-defined]
    if isinstance(ob, _TYPING_ALIAS) and not _is_special(name):
        if name in object.__getattribute__(ob, "__dict__") or _owner(_class_mro(kind), name):
            return _MISSING
        return object.__getattribute__(ob, "__dict__").get("__origin__", _MISSING)
    return _MISSING


def guarded_getattr(ob: object, name: str, default: Any = _MISSING) -> Any:
    """``_getattr_`` and the ``getattr`` builtin: raises AttributeError on refusal."""
    if type(name) is not str:
        _plain_name(name)  # raises
    try:
        if type(ob) not in _PLAIN_VALUE_TYPES:
            target = _forwarded_to(ob, name)
            if target is not _MISSING:
                return guarded_getattr(target, name)
        if name[:1] == "_" or name in _CHECKED_NAMES:
            _check_name(ob, name)
            value = _check_result(ob, name, getattr(ob, name))
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
    """``_getitem_``: any item, with the value checks of an attribute read."""
    value = ob[index]
    return value if type(value) in _PLAIN_VALUE_TYPES else _check_value("item", value)


def guarded_iter(ob: Any) -> Iterator[Any]:
    """``_getiter_``: refuses nothing (as _getitem_); the one place a future check would go."""
    return iter(ob)


def _bound_self(method: object) -> object:
    """The object a method read off an instance is bound to; _MISSING when unbound."""
    if isinstance(method, types.MethodType | types.MethodWrapperType):
        return method.__self__
    if isinstance(method, types.BuiltinMethodType):
        owner = method.__self__
        if owner is not None and not isinstance(owner, types.ModuleType):
            return owner
    return _MISSING


class _CheckedSlot:
    """A CHECKED_SLOTS method read off any object: a read by hand passes _getattr_'s checks,
    a write or an ``__init__`` _write_'s."""

    __slots__ = ("_method", "_name", "_self")

    def __init__(self, name: str, method: Callable[..., Any]) -> None:
        self._name, self._method, self._self = name, method, _bound_self(method)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        target, rest = (args[0], args[1:]) if self._self is _MISSING else (self._self, args)
        if self._name == "__init__":
            if not _writable(target):
                raise AttributeError(f"cannot initialize {_describe(target)} again: it is shared")
            return self._method(*args, **kwargs)
        if not rest:
            raise TypeError(f"{self._name}() needs an attribute name")
        attr = _plain_name(rest[0])
        if self._name in _READ_SLOTS:
            forwarded = _forwarded_to(target, attr)
            if forwarded is not _MISSING:
                return guarded_getattr(forwarded, attr)
            _check_name(target, attr)
            return _check_result(target, attr, self._method(*args))
        check_write(target, attr, "set" if self._name == "__setattr__" else "delete")
        return self._method(*args)

    def __repr__(self) -> str:
        return f"<checked {self._name}>"


class GlobalsView(MutableMapping[str, Any]):
    """The script's globals as ``globals()``, ``vars()`` at module level and a script
    function's ``__globals__`` give them: the real dict minus the sandbox's own entries
    (the builtins, guards among them), which can be neither read nor replaced."""

    __slots__ = ("_globals",)

    def __init__(self, script_globals: dict[str, Any]) -> None:
        self._globals = script_globals

    @staticmethod
    def _key(key: object) -> str:
        if type(key) is not str:  # a str subclass could compare equal to "__builtins__"
            raise KeyError(key)
        if is_sandbox_name(key):
            raise KeyError(f"{key!r} is the sandbox's, not the script's")
        return key

    def __getitem__(self, key: str) -> Any:
        return self._globals[self._key(key)]

    def __setitem__(self, key: str, value: Any) -> None:
        self._globals[self._key(key)] = value

    def __delitem__(self, key: str) -> None:
        del self._globals[self._key(key)]

    def __iter__(self) -> Iterator[str]:
        return iter([key for key in self._globals if not is_sandbox_name(key)])

    def __len__(self) -> int:
        return sum(1 for key in self._globals if not is_sandbox_name(key))

    def __repr__(self) -> str:
        return repr(dict(self.items()))


WRITABLE_TYPES[GlobalsView] = "globals()[name] = value: the view refuses the sandbox's keys"


def is_sandbox_name(name: str) -> bool:
    """A name the compiler refuses to scripts: builtins, guards, temporaries."""
    return name in SANDBOX_NAMES or TEMPORARY_NAME.fullmatch(name) is not None


class GuardedFormatter(string.Formatter):
    """``string.Formatter`` whose ``{0.attr[key]}`` fields read through this guard.

    Scripts get it as ``string.Formatter`` and, bound to the text, as ``str.format`` and
    ``str.format_map``; subclasses of the script's override it as usual."""

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> tuple[Any, Any]:
        first, rest = _string.formatter_field_name_split(field_name)
        value = guarded_getitem(args if type(first) is int else kwargs, first)
        for is_attribute, key in rest:
            value = guarded_getattr(value, key) if is_attribute else guarded_getitem(value, key)
        return value, first


_FORMATTER = GuardedFormatter()


def guarded_format_method(text: Any, name: str) -> Callable[..., str]:
    """``text.format`` or ``text.format_map`` (``str.format`` itself when ``text`` is a
    class: the text comes first)."""
    if _is_class(text):

        def unbound(self: object, *args: Any, **kwargs: Any) -> str:
            if not isinstance(self, text):
                raise TypeError(f"{text.__name__}.{name} needs a {text.__name__}")
            return guarded_format_method(self, name)(*args, **kwargs)

        return unbound
    template = str(text)
    if name == "format_map":
        return lambda mapping: _FORMATTER.vformat(template, (), mapping)
    return lambda *args, **kwargs: _FORMATTER.vformat(template, args, kwargs)


class _ReadOnly:
    """What ``_write_`` returns for an object the script may not change."""

    __slots__ = ("_ob",)

    def __init__(self, ob: object) -> None:
        object.__setattr__(self, "_ob", ob)

    def _kind(self) -> str:
        return _describe(object.__getattribute__(self, "_ob"))

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


def _writable(ob: object) -> bool:
    if type(ob) in WRITABLE_TYPES or is_script_object(ob):
        return True
    return not _is_class(ob) and _in_writable_module(type(ob))


def check_write(ob: object, name: object, verb: str = "set") -> str:
    """Refuse setting or deleting ``ob.<name>`` unless the script may; return the name."""
    name = _plain_name(name)
    if name in UNWRITABLE_ATTRIBUTES:
        raise AttributeError(f"cannot {verb} {name!r}: {UNWRITABLE_ATTRIBUTES[name]}")
    where = f"{verb} {name!r} {'of' if verb == 'delete' else 'on'} {_describe(ob)}"
    if not _writable(ob):
        raise AttributeError(f"cannot {where}: scripts change only their own objects")
    private = name[:1] == "_" and not _is_special(name)
    if private and not _own_object(ob) and not _private_is_scripts(ob, name):
        raise AttributeError(f"cannot {where}: the runtime's private state")
    return name


def _describe(ob: object) -> str:
    return f"class {ob.__name__}" if _is_class(ob) else f"a {type(ob).__name__} object"


class _CheckedWriter:
    """What ``_write_`` returns for the script's objects of classes with a runtime base:
    attribute writes pass check_write (the runtime's private slots stay its own)."""

    __slots__ = ("_ob",)

    def __init__(self, ob: object) -> None:
        object.__setattr__(self, "_ob", ob)

    def __setattr__(self, name: str, value: object) -> None:
        ob = object.__getattribute__(self, "_ob")
        setattr(ob, check_write(ob, name), value)

    def __delattr__(self, name: str) -> None:
        ob = object.__getattribute__(self, "_ob")
        delattr(ob, check_write(ob, name, "delete"))

    def __setitem__(self, key: object, value: object) -> None:
        object.__getattribute__(self, "_ob")[key] = value

    def __delitem__(self, key: object) -> None:
        del object.__getattribute__(self, "_ob")[key]


def guarded_write(ob: Any) -> Any:
    """``_write_``: the object itself when the script may change it, else a stand-in that
    checks or refuses each change."""
    if type(ob) in WRITABLE_TYPES or _own_object(ob):
        return ob
    if is_script_object(ob):
        return _CheckedWriter(ob)
    if not _is_class(ob) and _in_writable_module(type(ob)):
        return ob
    return _ReadOnly(ob)


def guarded_setattr(ob: object, name: str, value: object) -> None:
    setattr(ob, check_write(ob, name), value)


def guarded_delattr(ob: object, name: str) -> None:
    delattr(ob, check_write(ob, name, "delete"))


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
    """``_apply_`` (calls with ``*``/``**``): keyword names only select parameters; nothing
    to refuse, but RestrictedPython's compiled calls need the hook."""
    return func(*args, **kwargs)


class _ScriptType:
    """The script's ``type``: ``type(x)`` with one argument, and never a metaclass.

    The real ``type`` called with three arguments makes a class past ``__metaclass__``; with
    a pydantic base that evaluates attacker strings. So ``type(name, bases, ns)`` goes
    through the class hook, as a class statement does, and ``type(SomeClass)`` answers this
    object again, which also stands in for ``type`` in isinstance, issubclass and type[X]."""

    __slots__ = ()

    def __call__(self, *args: object, **kwargs: Any) -> object:
        if len(args) == 3:
            return _new_class(*args, **kwargs)
        if len(args) != 1 or kwargs:
            raise TypeError("type() takes 1 or 3 arguments")
        cls = type(args[0])
        return self if issubclass(cls, type) or args[0] is self else cls

    def __instancecheck__(self, ob: object) -> bool:
        return isinstance(ob, type)

    def __subclasscheck__(self, cls: object) -> bool:
        # Whatever a script passes: issubclass itself refuses what is not a class.
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

    def _create_(cls, class_name: str, names: Any, **kwargs: Any) -> Any:
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
        # EnumType._create_ is private: typeshed does not declare it.
        return super()._create_(class_name, items, **kwargs)  # type: ignore[misc]


def _class_bases(name: str, bases: tuple[object, ...]) -> tuple[type, ...]:
    """The bases of a script's class statement, refused unless each is a class."""
    for base in bases:
        if not _is_class(base):
            raise TypeError(f"class {name}: base {base!r} is not a class")
    return typing.cast(tuple[type, ...], bases)


def _metaclass_for(name: str, bases: tuple[type, ...]) -> type:
    winner: type = type
    for base in bases:
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
        classes = _class_bases(name, bases)
        return _metaclass_for(name, classes).__prepare__(name, classes, **kwargs)

    def __call__(self, name: str, bases: tuple[object, ...], ns: Any, **kwargs: Any) -> type:
        classes = _class_bases(name, bases)
        metaclass = _metaclass_for(name, classes)
        ns[_MARK] = self
        for protocol in RAW_MEMORY_PROTOCOLS:  # before the instance dict and __getattr__
            ns[protocol] = _REFUSED_PROTOCOL
        for hook in ("__getattribute__", "__getattr__"):
            if hook in ns:
                ns[hook] = _refusing_protocols(ns[hook])
        return register_script_class(metaclass(name, classes, ns, **kwargs))


#: Protocols through which numpy reads memory at an address an object names: no object of
#: a script's class answers them, whether by attribute, instance dict, __getattr__ or
#: __getattribute__ (a class-level data descriptor, and both hooks wrapped): to numpy
#: they are absent, as on any plain object.
RAW_MEMORY_PROTOCOLS = tuple(name for name in UNWRITABLE_ATTRIBUTES if "array" in name)
_NO_RAW_MEMORY = "objects of scripts do not hand out raw memory (numpy array protocols)"


class _RefusedProtocol:
    __slots__ = ()

    def __get__(self, ob: object, owner: type | None = None) -> NoReturn:
        raise AttributeError(_NO_RAW_MEMORY)

    def __set__(self, ob: object, value: object) -> NoReturn:
        raise AttributeError(_NO_RAW_MEMORY)


_REFUSED_PROTOCOL = _RefusedProtocol()


def _refusing_protocols(method: Any) -> Callable[..., Any]:
    def refusing(self: object, name: str) -> Any:
        if name in RAW_MEMORY_PROTOCOLS:
            raise AttributeError(_NO_RAW_MEMORY)
        return method(self, name)

    refusing.__name__ = refusing.__qualname__ = getattr(method, "__name__", "__getattr__")
    return refusing


CLASS_HOOK = _ClassHook()

#: Keys ``type(name, bases, ns)`` refuses in ``ns``: what a class statement cannot bind.
_CLASS_NAMESPACE_DENIED = frozenset((*UNWRITABLE_ATTRIBUTES, *SANDBOX_NAMES, "__classcell__"))


def _new_class(name: object, bases: object, namespace: object, **kwargs: Any) -> type:
    """``type(name, bases, ns)``: a class statement's checks on data."""
    if type(name) is not str or type(bases) is not tuple or not isinstance(namespace, Mapping):
        raise TypeError("type(name, bases, dict): a str, a tuple of classes and a dict")
    items = dict(namespace)
    for key in items:
        if type(key) is not str or key in _CLASS_NAMESPACE_DENIED:
            raise TypeError(f"type(): {key!r} cannot be defined in a script's class")
    return CLASS_HOOK(name, bases, items, **kwargs)
