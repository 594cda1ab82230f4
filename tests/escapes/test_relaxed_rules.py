"""Hostile scripts beside each rule the restricted layer relaxed for real Python.

Private names, special methods, ``__dict__``/``vars()``, ``globals()``/``locals()``,
``type(name, bases, ns)``, checked attribute slots and ``__init__``: each works on the
script's own objects (tests/sandbox/policy) and stops here when aimed at anything else."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.policy.compiler import SANDBOX_NAMES, UNWRITABLE_ATTRIBUTES, SourceRejected
from sandbox.policy.guards import DENIED_EVERYWHERE, OWN_OBJECTS_ONLY, OWN_VALUES_ONLY
from tests.sandbox.poe.harness import new_run
from tests.sandbox.policy.harness import StandInPoe, Stop, run, stopped_by


def _refused(owner: str, name: str, reason: str) -> Stop:
    return Stop("guards", AttributeError, f"{owner}.{name} is not available to scripts: {reason}")


_PRIVATE = "private to the runtime or library that made it"

# -- private names: the script's own only ------------------------------------------------
PRIVATE_OF_A_LIBRARY_OBJECT = "import string\nx = string.Template('$a')._invalid\n"
PRIVATE_OF_A_MODULE_PROXY = "import json\nx = json._attrs\n"
PRIVATE_OF_A_LIBRARY_CLASS = "import string\nx = string.Template._invalid\n"
PRIVATE_THROUGH_SUPER = (
    "import string\n"
    "class T(string.Template):\n"
    "    def peek(self):\n        return super()._invalid\n"
    "T('x').peek()\n"
)
PRIVATE_THROUGH_GETATTR = "import json\nx = getattr(json, '_at' + 'trs')\n"
PRIVATE_OF_GLOBALS_VIEW = "x = globals()._globals\n"
PRIVATE_WRITE_ON_SHARED = "import string\nt = string.Template('x')\nt._extra = 1\n"

# -- special names and their slots ---------------------------------------------------------
DICT_OF_SHARED = "x = poe.__dict__\n"
VARS_OF_SHARED = "x = vars(poe)\n"
REDUCE_OF_SHARED = "x = poe.__reduce_ex__(2)\n"
GETSTATE_OF_SHARED = "x = poe.__getstate__()\n"
SETSTATE_OF_SHARED = "poe.__setstate__({'calls': None})\n"
GLOBALS_OF_LIBRARY_FUNCTION = "import json\ng = json.dumps.__globals__\n"
CLOSURE_OF_LIBRARY_FUNCTION = "import functools\nc = functools.reduce.__closure__\n"
DEFAULTS_OF_LIBRARY_FUNCTION = "import json\nd = json.dumps.__kwdefaults__\n"
SELF_OF_A_BUILTIN = "m = len.__self__\n"
FUNC_OF_A_RUNTIME_METHOD = "f = poe.call.__func__\n"
DESCRIPTOR_SET_ON_SHARED = "int.real.__set__(1, 2)\n"
PROPERTY_SETTER_OF_SHARED = "type(poe).mood.fset(poe, 'angry')\n"
PROPERTY_SET_OF_SHARED = "type(poe).mood.__set__(poe, 'angry')\n"
GETATTRIBUTE_BY_HAND = "x = object.__getattribute__(int, '__subclasses__')\n"
GETATTRIBUTE_DICT_BY_HAND = "x = object.__getattribute__(poe, '__dict__')\n"
FORMAT_BY_HAND = "f = '{0.__class__.mro}'.__getattribute__('format')\nf(1)\n"
SETATTR_BY_HAND = "object.__setattr__(poe, 'calls', None)\n"
SETATTR_BOUND = "poe.__setattr__('calls', None)\n"
DELATTR_BY_HAND = "object.__delattr__(poe, 'calls')\n"
SUPER_SETATTR_CLASS = (
    "class A:\n    def morph(self):\n        super().__setattr__('__class__', int)\nA().morph()\n"
)
SETATTR_CLASS = "class A:\n    pass\nsetattr(A(), '__class__', int)\n"
SETATTR_BASES = "class A:\n    pass\nsetattr(A, '__bases__', (int,))\n"
SETATTR_FINALIZER = "class A:\n    pass\nsetattr(A, '__del__', print)\n"
REINIT_SHARED = "type(poe).__init__(poe)\n"
REINIT_SHARED_BOUND = "poe.__init__()\n"
CLASS_ASSIGNMENT = "class A:\n    pass\nclass B:\n    pass\nA().__class__ = B\n"
BASES_ASSIGNMENT = "class A:\n    pass\nA.__bases__ = (dict,)\n"
FINALIZER = "class A:\n    def __del__(self):\n        print('late')\n"

# -- names the compiled code relies on -----------------------------------------------------
REPLACE_WRITE_GUARD = "_write_ = lambda ob: ob\npoe.calls = None\n"
REPLACE_GUARD_IN_A_FUNCTION = "def f():\n    _getattr_ = getattr\n    return poe.x\n"
REPLACE_GUARD_IN_A_CLASS = "class C:\n    _getiter_ = iter\n"
REPLACE_CLASS_HOOK = "__metaclass__ = type\n"
REPLACE_GUARD_BY_IMPORT = "from json import dumps as _getitem_\n"
REPLACE_GUARD_BY_PARAMETER = "def f(_write_):\n    pass\n"
REPLACE_GUARD_IN_GLOBALS = "globals()['_write_'] = lambda ob: ob\n"
REPLACE_GUARD_BY_UPDATE = "globals().update(_getattr_=getattr)\n"
READ_BUILTINS_IN_GLOBALS = "b = globals()['__builtins__']\n"
READ_BUILTINS_BY_FAKE_KEY = (
    "class K(str):\n"
    "    def __hash__(self):\n        return hash('__builtins__')\n"
    "    def __eq__(self, other):\n        return True\n"
    "b = globals()[K('x')]\n"
)
READ_BUILTINS_OF_A_SCRIPT_FUNCTION = "def f():\n    pass\nb = f.__globals__['__builtins__']\n"
LOCALS_AS_A_CALLBACK = (
    "import dataclasses\n"
    "@dataclasses.dataclass\nclass C:\n    x: dict = dataclasses.field(default_factory=locals)\n"
    "C()\n"
)
VARS_AS_A_CALLBACK = (
    "import dataclasses\n"
    "@dataclasses.dataclass\nclass C:\n    x: dict = dataclasses.field(default_factory=vars)\n"
    "C()\n"
)
WEAK_PROXY = "import weakref, fastapi_poe as fp\nx = weakref.proxy(fp.ProtocolMessage)\n"
WEAK_FINALIZER = "import weakref\nclass C:\n    pass\nweakref.finalize(C(), print, 'late')\n"
WEAK_CALLBACK = "import weakref\nclass C:\n    pass\nc = C()\nr = weakref.ref(c, print)\n"
TYPE_WITH_A_FINALIZER = "X = type('X', (), {'__del__': print})\n"
TYPE_WITH_A_CLASS_HOOK = "X = type('X', (), {'__metaclass__': 1})\n"


@pytest.mark.parametrize(
    ("source", "stop"),
    [
        (PRIVATE_OF_A_LIBRARY_OBJECT, _refused("Template", "_invalid", _PRIVATE)),
        (PRIVATE_OF_A_MODULE_PROXY, _refused("module", "_attrs", _PRIVATE)),
        (PRIVATE_OF_A_LIBRARY_CLASS, _refused("Template", "_invalid", _PRIVATE)),
        (PRIVATE_THROUGH_SUPER, _refused("super", "_invalid", _PRIVATE)),
        (PRIVATE_THROUGH_GETATTR, _refused("module", "_attrs", _PRIVATE)),
        (PRIVATE_OF_GLOBALS_VIEW, _refused("GlobalsView", "_globals", _PRIVATE)),
        (PRIVATE_WRITE_ON_SHARED, Stop("guards", AttributeError,
            "cannot set '_extra' on a Template object: scripts change only their own objects")),
        (DICT_OF_SHARED, _refused("StandInPoe", "__dict__", OWN_OBJECTS_ONLY["__dict__"])),
        (VARS_OF_SHARED, Stop("namespace", TypeError, "vars() argument: StandInPoe.__dict__ is "
            f"not available to scripts: {OWN_OBJECTS_ONLY['__dict__']}")),
        (REDUCE_OF_SHARED, _refused("StandInPoe", "__reduce_ex__",
                                    OWN_OBJECTS_ONLY["__reduce_ex__"])),
        (GETSTATE_OF_SHARED, _refused("StandInPoe", "__getstate__",
                                      OWN_OBJECTS_ONLY["__getstate__"])),
        (SETSTATE_OF_SHARED, _refused("StandInPoe", "__setstate__",
                                      OWN_OBJECTS_ONLY["__setstate__"])),
        (GLOBALS_OF_LIBRARY_FUNCTION, _refused("function", "__globals__",
                                               OWN_OBJECTS_ONLY["__globals__"])),
        (CLOSURE_OF_LIBRARY_FUNCTION, _refused("builtin_function_or_method", "__closure__",
                                               OWN_OBJECTS_ONLY["__closure__"])),
        (DEFAULTS_OF_LIBRARY_FUNCTION, _refused("function", "__kwdefaults__",
                                                OWN_OBJECTS_ONLY["__kwdefaults__"])),
        (SELF_OF_A_BUILTIN, _refused("builtin_function_or_method", "__self__",
                                     OWN_VALUES_ONLY["__self__"])),
        (FUNC_OF_A_RUNTIME_METHOD, _refused("method", "__func__", OWN_VALUES_ONLY["__func__"])),
        (DESCRIPTOR_SET_ON_SHARED, _refused("getset_descriptor", "__set__",
                                            OWN_OBJECTS_ONLY["__set__"])),
        (PROPERTY_SETTER_OF_SHARED, _refused("property", "fset", OWN_VALUES_ONLY["fset"])),
        (PROPERTY_SET_OF_SHARED, _refused("property", "__set__", OWN_OBJECTS_ONLY["__set__"])),
        (GETATTRIBUTE_BY_HAND, _refused("int", "__subclasses__",
                                        DENIED_EVERYWHERE["__subclasses__"])),
        (GETATTRIBUTE_DICT_BY_HAND, _refused("StandInPoe", "__dict__",
                                             OWN_OBJECTS_ONLY["__dict__"])),
        (FORMAT_BY_HAND, _refused("int", "mro", DENIED_EVERYWHERE["mro"])),
        (SETATTR_BY_HAND, Stop("guards", AttributeError,
            "cannot set 'calls' on a StandInPoe object: scripts change only their own objects")),
        (SETATTR_BOUND, Stop("guards", AttributeError,
            "cannot set 'calls' on a StandInPoe object: scripts change only their own objects")),
        (DELATTR_BY_HAND, Stop("guards", AttributeError,
            "cannot delete 'calls' of a StandInPoe object: scripts change only their own objects")),
        (SUPER_SETATTR_CLASS, Stop("guards", AttributeError,
            f"cannot set '__class__': {UNWRITABLE_ATTRIBUTES['__class__']}")),
        (SETATTR_CLASS, Stop("guards", AttributeError,
            f"cannot set '__class__': {UNWRITABLE_ATTRIBUTES['__class__']}")),
        (SETATTR_BASES, Stop("guards", AttributeError,
            f"cannot set '__bases__': {UNWRITABLE_ATTRIBUTES['__bases__']}")),
        (SETATTR_FINALIZER, Stop("guards", AttributeError,
            f"cannot set '__del__': {UNWRITABLE_ATTRIBUTES['__del__']}")),
        (REINIT_SHARED, Stop("guards", AttributeError,
            "cannot initialize a StandInPoe object again: it is shared")),
        (REINIT_SHARED_BOUND, Stop("guards", AttributeError,
            "cannot initialize a StandInPoe object again: it is shared")),
        (CLASS_ASSIGNMENT, Stop("compiler", SourceRejected,
            f'"__class__" cannot be set: {UNWRITABLE_ATTRIBUTES["__class__"]}')),
        (BASES_ASSIGNMENT, Stop("compiler", SourceRejected,
            f'"__bases__" cannot be set: {UNWRITABLE_ATTRIBUTES["__bases__"]}')),
        (FINALIZER, Stop("compiler", SourceRejected,
            f'"__del__" is reserved: {SANDBOX_NAMES["__del__"]}')),
        (REPLACE_WRITE_GUARD, Stop("compiler", SourceRejected,
            f'"_write_" is reserved: {SANDBOX_NAMES["_write_"]}')),
        (REPLACE_GUARD_IN_A_FUNCTION, Stop("compiler", SourceRejected,
            f'"_getattr_" is reserved: {SANDBOX_NAMES["_getattr_"]}')),
        (REPLACE_GUARD_IN_A_CLASS, Stop("compiler", SourceRejected,
            f'"_getiter_" is reserved: {SANDBOX_NAMES["_getiter_"]}')),
        (REPLACE_CLASS_HOOK, Stop("compiler", SourceRejected,
            f'"__metaclass__" is reserved: {SANDBOX_NAMES["__metaclass__"]}')),
        (REPLACE_GUARD_BY_IMPORT, Stop("compiler", SourceRejected,
            f'"_getitem_" is reserved: {SANDBOX_NAMES["_getitem_"]}')),
        (REPLACE_GUARD_BY_PARAMETER, Stop("compiler", SourceRejected,
            f'"_write_" is reserved: {SANDBOX_NAMES["_write_"]}')),
        (REPLACE_GUARD_IN_GLOBALS, Stop("guards", KeyError,
            "\"'_write_' is the sandbox's, not the script's\"")),
        (REPLACE_GUARD_BY_UPDATE, Stop("guards", KeyError,
            "\"'_getattr_' is the sandbox's, not the script's\"")),
        (READ_BUILTINS_IN_GLOBALS, Stop("guards", KeyError,
            "\"'__builtins__' is the sandbox's, not the script's\"")),
        (READ_BUILTINS_BY_FAKE_KEY, Stop("guards", KeyError, "'x'")),
        (READ_BUILTINS_OF_A_SCRIPT_FUNCTION, Stop("guards", KeyError,
            "\"'__builtins__' is the sandbox's, not the script's\"")),
        (LOCALS_AS_A_CALLBACK, Stop("namespace", TypeError,
            "locals() is available only in the script's own code")),
        (VARS_AS_A_CALLBACK, Stop("namespace", TypeError,
            "vars() is available only in the script's own code")),
        (WEAK_PROXY, Stop("modules", AttributeError,
            "module 'weakref' has no attribute 'proxy' available to scripts")),
        (WEAK_FINALIZER, Stop("modules", AttributeError,
            "module 'weakref' has no attribute 'finalize' available to scripts")),
        (WEAK_CALLBACK, Stop("modules", TypeError,
            "weakref.ref callbacks run whenever an object is collected: refused")),
        (TYPE_WITH_A_FINALIZER, Stop("guards", TypeError,
            "type(): '__del__' cannot be defined in a script's class")),
        (TYPE_WITH_A_CLASS_HOOK, Stop("guards", TypeError,
            "type(): '__metaclass__' cannot be defined in a script's class")),
    ],
)  # fmt: skip
def test_relaxed_rules_stop_at_the_script_s_own_objects(source: str, stop: Stop) -> None:
    assert stopped_by(source) == stop


def test_shared_state_is_unchanged_after_the_attempts() -> None:
    poe = StandInPoe()
    for source in (SETATTR_BY_HAND, SETATTR_BOUND, DELATTR_BY_HAND, REINIT_SHARED):
        run(source, poe=poe)
    assert poe.calls == [] and poe.mood == "calm"


def _real_poe_run(source: str) -> Any:
    runtime = new_run()
    try:
        return run(source, poe=runtime.poe)
    finally:
        runtime.ns.finish()


def test_subclassing_a_runtime_class_does_not_open_its_private_state() -> None:
    mine = _real_poe_run(
        "class MyChat(poe.Chat):\n    pass\n"
        "c = MyChat('hi')\nc._mine = 1\nr = (c._mine, len(c), c.last.text)\n"
    )
    assert mine.error is None and mine.globals["r"] == (1, 1, "hi")
    read = _real_poe_run("class MyChat(poe.Chat):\n    pass\nm = MyChat('hi')._messages\n")
    assert isinstance(read.error, AttributeError)
    assert str(read.error) == f"MyChat._messages is not available to scripts: {_PRIVATE}"
    write = _real_poe_run("class MyChat(poe.Chat):\n    pass\nc = MyChat('hi')\nc._messages = []\n")
    assert isinstance(write.error, AttributeError)
    assert (
        str(write.error) == "cannot set '_messages' on a MyChat object: the runtime's private state"
    )
    state = _real_poe_run("class MyChat(poe.Chat):\n    pass\nd = vars(MyChat('hi'))\n")
    assert isinstance(state.error, TypeError)


def test_runtime_objects_keep_their_private_state() -> None:
    outcome = _real_poe_run("x = poe.default_chat._messages\n")
    assert isinstance(outcome.error, AttributeError)
    assert "private to the runtime" in str(outcome.error)
    outcome = _real_poe_run("poe.default_chat.__init__('forged')\n")
    assert str(outcome.error) == "cannot initialize a Chat object again: it is shared"


_INTERFACE = "{'shape': (8,), 'typestr': '|u1', 'data': (4096, False), 'version': 3}"


def test_script_objects_never_hand_numpy_a_raw_address() -> None:
    # Special methods and instance dicts are the script's now: numpy's array protocols
    # would read memory at any address; the class hook keeps them absent on every object.
    cases = [
        f"class Evil:\n    def __getattr__(self, name):\n        return {_INTERFACE}\ne = Evil()\n",
        f"class Evil:\n    def __getattribute__(s, n):\n        return {_INTERFACE}\ne = Evil()\n",
        f"class Evil:\n    pass\ne = Evil()\nvars(e)['__array_interface__'] = {_INTERFACE}\n",
    ]
    for case in cases:
        outcome = run(f"import numpy as np\n{case}a = np.asarray(e)\nprint(a.dtype, a.shape)\n")
        if outcome.error is None:
            assert outcome.text == "object ()\n", case  # an object array, not raw bytes
        else:
            assert isinstance(outcome.error, TypeError), (case, outcome.error)
