"""Each guard the compiled code calls: what it lets through and what it refuses."""

from __future__ import annotations

import os
import sys
import types

import fastapi_poe as fp
import pydantic.fields
import pytest

from sandbox.policy.guards import (
    DENIED_EVERYWHERE,
    PYDANTIC_MODEL_METHODS,
    SCRIPT_TYPE,
    guarded_apply,
    guarded_getattr,
    guarded_inplacevar,
    guarded_write,
)
from tests.sandbox.policy.harness import StandInPoe, ok, run

# -- _getattr_ ---------------------------------------------------------------------------


def test_getattr_raises_attribute_error_on_refusal() -> None:
    with pytest.raises(AttributeError, match="every subclass in the process"):
        guarded_getattr(int, "__subclasses__")
    assert guarded_getattr(int, "__subclasses__", None) is None
    outcome = ok(
        "a = hasattr(int, '__subclasses__')\nb = getattr(int, '__subcl' + 'asses__', 'no')\n"
        "c = hasattr('x', 'upper')\nd = getattr(1, '__class__')\n"
    )
    g = outcome.globals
    assert (g["a"], g["b"], g["c"], g["d"]) == (False, "no", True, int)


def test_getattr_needs_a_real_string() -> None:
    with pytest.raises(TypeError, match="attribute name must be a string"):
        guarded_getattr(1, type("S", (str,), {})("real"))


def test_readable_dunders_must_be_strings() -> None:
    outcome = ok(
        "def f():\n    'doc'\nclass C:\n    pass\n"
        "names = (f.__name__, f.__qualname__, f.__doc__, C.__name__, type(1).__name__)\n"
    )
    assert outcome.globals["names"] == ("f", "f", "doc", "C", "int")
    for value in (os, ["a list"], len):
        with pytest.raises(AttributeError):
            guarded_getattr(types.SimpleNamespace(__name__=value), "__name__")
    # The script's own objects may carry anything under these names.
    assert ok("class C:\n    __doc__ = 5\nd = C().__doc__\n").globals["d"] == 5


def test_inspect_attributes_are_refused_at_run_time() -> None:
    outcome = run("def g():\n    yield 1\nx = getattr(g(), 'gi_' + 'frame')\n")
    assert isinstance(outcome.error, AttributeError)
    assert str(outcome.error) == (
        f"generator.gi_frame is not available to scripts: {DENIED_EVERYWHERE['gi_frame']}"
    )


@pytest.mark.parametrize(
    "call",
    [
        "'{0.real} {0.__class__.__subclasses__}'.format(1)",
        "str.format('{0.real} {0.__class__.__subclasses__}', 1)",
        "'{x.real} {x.__class__.__subclasses__}'.format_map({'x': 1})",
        "S('{0.real} {0.__class__.__subclasses__}').format(1)",
        "S.format_map(S('{x.real} {x.__class__.__subclasses__}'), {'x': 1})",
        "super(S, S('{0.real} {0.__class__.__subclasses__}')).format(1)",
        "collections.UserString('{0.real} {0.__class__.__subclasses__}').format(1)",
        "string.Formatter().format('{0.real} {0.__class__.__subclasses__}', 1)",
    ],
)
def test_format_fields_read_through_the_guard(call: str) -> None:
    setup = "import collections, string\nclass S(str):\n    pass\n"
    outcome = run(f"{setup}x = {call}\n")
    assert isinstance(outcome.error, AttributeError)
    assert str(outcome.error) == (
        f"int.__subclasses__ is not available to scripts: {DENIED_EVERYWHERE['__subclasses__']}"
    )
    allowed = call.replace(" {0.__class__.__subclasses__}", " {0.__class__.__name__}").replace(
        " {x.__class__.__subclasses__}", " {x.__class__.__name__}"
    )
    assert ok(f"{setup}print({allowed})\n").text == "1 int\n"


def test_format_keeps_str_format_features() -> None:
    outcome = ok(
        "t = 'Hi {name}! {0:>4} {items[1]} {d[k]!r} {{x}} {n:,.2f}'\n"
        "print(t.format(7, name='Ann', items=['a', 'b'], d={'k': 'v'}, n=1234.5))\n"
        "class Missing(dict):\n    def __missing__(self, key):\n        return '?'\n"
        "print('{a}-{b}'.format_map(Missing(a=1)))\n"
    )
    assert outcome.text == "Hi Ann!    7 b 'v' {x} 1,234.50\n1-?\n"


@pytest.mark.parametrize(
    "name",
    [
        *("parse_raw", "parse_file", "construct", "model_construct", "model_rebuild"),
        *("model_fields", "model_config", "model_computed_fields", "model_extra"),
        *("model_fields_set", "model_post_init", "from_dict", "validate", "nonexistent"),
    ],
)
def test_pydantic_names_off_the_allow_list_are_refused_on_classes_and_instances(
    name: str,
) -> None:
    message = f"PartialResponse.{name} is not available to scripts: pydantic models offer"
    with pytest.raises(AttributeError, match=message):
        guarded_getattr(fp.PartialResponse, name)
    with pytest.raises(AttributeError, match=message):
        guarded_getattr(fp.PartialResponse(text="x"), name)
    with pytest.raises(AttributeError, match=message.replace("PartialResponse", "super")):
        guarded_getattr(super(fp.PartialResponse, fp.PartialResponse(text="x")), name)
    assert guarded_getattr(fp.PartialResponse(text="x"), name, "default") == "default"


def test_pydantic_allow_list_is_the_real_fields_and_reviewed_methods() -> None:
    part = fp.PartialResponse(text="x")
    for name in (*PYDANTIC_MODEL_METHODS, *fp.PartialResponse.model_fields):
        guarded_getattr(part, name)  # each allowed, none raises
    assert guarded_getattr(fp.ToolDefinition, "model_dump") is fp.ToolDefinition.model_dump
    for ob in (pydantic.fields.FieldInfo, fp.PartialResponse.model_fields["text"]):
        for name in ("from_annotation", "apply_typevars_map", "is_required", "annotation"):
            with pytest.raises(AttributeError, match=f"FieldInfo.{name} is not available"):
                guarded_getattr(ob, name)


def test_pydantic_everyday_methods_work() -> None:
    outcome = ok(
        "import fastapi_poe as fp\n"
        "p = fp.PartialResponse.model_validate({'text': 'hi'})\n"
        'q = fp.PartialResponse.model_validate_json(\'{"text": "yo"}\')\n'
        "r = p.model_copy()\n"
        "out = (p.model_dump()['text'], q.text, r.text,\n"
        "       'text' in p.model_dump(),\n"
        "       fp.PartialResponse.model_json_schema()['title'], p.model_dump_json()[:8])\n"
    )
    assert outcome.globals["out"] == ("hi", "yo", "hi", True, "PartialResponse", '{"text":')


def test_attribute_error_obj_and_abc_register_are_refused() -> None:
    outcome = run("try:\n    (1).nope\nexcept AttributeError as e:\n    x = e.obj\n")
    assert isinstance(outcome.error, AttributeError)
    assert "AttributeError.obj" in str(outcome.error)
    outcome = run("import collections.abc\ncollections.abc.Mapping.register(list)\n")
    assert "Mapping.register is not available" in str(outcome.error)


def test_values_that_lead_out_are_refused_whatever_the_path() -> None:
    holder = types.SimpleNamespace(
        mod=os,
        frame=sys._getframe(),
        code=test_values_that_lead_out_are_refused_whatever_the_path.__code__,
        ev=eval,
        op=open,
        imp=__import__,
        meta=type(fp.PartialResponse),
        real_type=type,
    )
    for name in ("mod", "frame", "code", "ev", "op", "imp", "meta"):
        with pytest.raises(AttributeError, match="is not available to scripts"):
            guarded_getattr(holder, name)
    assert guarded_getattr(holder, "real_type") is SCRIPT_TYPE


# -- _write_ -----------------------------------------------------------------------------


def test_scripts_write_their_own_objects_and_containers() -> None:
    outcome = ok(
        "import collections, decimal\n"
        "class C:\n    pass\n"
        "c = C()\nc.x = 1\nC.shared = 2\nsetattr(c, 'y', 3)\ndelattr(c, 'x')\n"
        "def f():\n    pass\nf.cache = {}\n"
        "d = {}\nd['k'] = 1\nl = [0]\nl[0] = 5\ndel l[0]\n"
        "cnt = collections.Counter()\ncnt['a'] += 1\n"
        "decimal.getcontext().prec = 5\np = str(decimal.Decimal(1) / decimal.Decimal(3))\n"
    )
    g = outcome.globals
    assert (vars(g["c"]), g["C"].shared, g["f"].cache, g["d"], g["l"]) == (
        {"y": 3}, 2, {}, {"k": 1}, []
    )  # fmt: skip
    assert (g["cnt"]["a"], g["p"]) == (1, "0.33333")


@pytest.mark.parametrize(
    ("source", "error", "message"),
    [
        ("poe.x = 1\n", AttributeError, "cannot set 'x' on a StandInPoe object"),
        ("del poe.bot_name\n", AttributeError, "cannot delete 'bot_name' of a StandInPoe"),
        ("import json\njson.dumps = 1\n", AttributeError, "cannot set 'dumps' on a module"),
        ("import fastapi_poe as fp\nfp.PartialResponse.x = 1\n", AttributeError,
         "cannot set 'x' on class PartialResponse"),
        ("setattr(poe, 'x', 1)\n", AttributeError, "cannot set 'x' on a StandInPoe"),
        ("poe.calls[0:0] = [1]\n", None, ""),  # a list the object holds: a plain container
        ("import json\nx = json\nx['a'] = 1\n", TypeError, "cannot set items of a module"),
        ("setattr(poe, '_x', 1)\n", AttributeError, "cannot set '_x' on a StandInPoe object"),
        ("object.__setattr__(poe, 'x', 1)\n", AttributeError, "cannot set 'x' on a StandInPoe"),
        ("poe.__setattr__('x', 1)\n", AttributeError, "cannot set 'x' on a StandInPoe"),
        ("type(poe).__init__(poe)\n", AttributeError, "cannot initialize a StandInPoe object"),
        ("class A:\n    pass\nobject.__setattr__(A(), '__class__', int)\n", AttributeError,
         "cannot set '__class__'"),
    ],
)  # fmt: skip
def test_shared_objects_are_read_only(
    source: str, error: type[BaseException] | None, message: str
) -> None:
    outcome = run(source)
    if error is None:
        assert outcome.error is None
        return
    assert isinstance(outcome.error, error)
    assert message in str(outcome.error)


def test_write_guard_hands_back_the_object_itself_when_allowed() -> None:
    d: dict[str, int] = {}
    assert guarded_write(d) is d
    assert guarded_write(StandInPoe()) is not None


# -- _inplacevar_, _apply_, unpacking ----------------------------------------------------


class ChatLike:
    def __init__(self) -> None:
        self.messages: list[str] = []

    def __iadd__(self, other: str) -> ChatLike:
        self.messages.append(other)
        return self


def test_inplacevar_keeps_python_semantics() -> None:
    items = [1]
    assert guarded_inplacevar("+=", items, [2]) is items
    assert items == [1, 2]
    assert guarded_inplacevar("+=", "a", "b") == "ab"
    assert guarded_inplacevar("**=", 2, 10) == 1024
    poe = StandInPoe()
    poe.chat = ChatLike()  # type: ignore[attr-defined]
    outcome = ok(
        "chat = poe.chat\nchat += 'hello'\nn = 1\nn += 1\nn <<= 2\ns = 'a'\ns *= 3\n"
        "x = [1]\ny = x\nx += [2]\n",
        poe=poe,
    )
    assert poe.chat.messages == ["hello"]  # type: ignore[attr-defined]
    assert (outcome.globals["n"], outcome.globals["s"], outcome.globals["y"]) == (8, "aaa", [1, 2])


def test_apply_passes_every_keyword_on() -> None:
    assert guarded_apply(dict, a=1, _b=2) == {"a": 1, "_b": 2}
    outcome = ok("def f(*a, **k):\n    return a, k\nr = f(*[1, 2], **{'x': 3, '_y': 4})\n")
    assert outcome.globals["r"] == ((1, 2), {"x": 3, "_y": 4})


def test_unpacking_through_guards() -> None:
    outcome = ok(
        "a, (b, c) = 1, (2, 3)\nfirst, *rest = range(4)\n"
        "pairs = [(k, v) for k, v in {'x': 1}.items()]\n"
        "for i, (j, k) in enumerate([(1, 2)]):\n    got = (i, j, k)\n"
    )
    g = outcome.globals
    assert (g["a"], g["b"], g["c"], g["first"], g["rest"]) == (1, 2, 3, 0, [1, 2, 3])
    assert (g["pairs"], g["got"]) == ([("x", 1)], (0, 1, 2))


# -- __metaclass__ and type --------------------------------------------------------------


def test_script_classes_of_every_allowed_kind() -> None:
    outcome = ok(
        "import enum, typing, collections.abc\n"
        "class Color(enum.Enum):\n    RED = 1\n"
        "class P(typing.NamedTuple):\n    x: int\n    y: int = 0\n"
        "class TD(typing.TypedDict):\n    a: int\n"
        "class Proto(typing.Protocol):\n    def run(self) -> int: ...\n"
        "T = typing.TypeVar('T')\n"
        "class Box(typing.Generic[T]):\n    pass\n"
        "class Seq(collections.abc.Sequence):\n"
        "    def __getitem__(self, i):\n        return [1, 2][i]\n"
        "    def __len__(self):\n        return 2\n"
        "class E(ValueError):\n    pass\n"
        "out = (Color.RED.value, P(1), TD(a=1), list(Seq()), Box[int],\n"
        "       isinstance(E(), ValueError))\n"
    )
    assert repr(outcome.globals["out"]) == (
        "(1, P(x=1, y=0), {'a': 1}, [1, 2], __main__.Box[int], True)"
    )


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("import fastapi_poe as fp\nclass M(fp.PartialResponse):\n    pass\n",
         "class M: cannot derive from classes with metaclass ModelMetaclass in scripts"),
        ("import typing\nclass Meta(typing.Type):\n    pass\n",
         "class Meta: scripts cannot define metaclasses"),
        ("class Meta(type):\n    pass\n", "class Meta: base <class 'type'> is not a class"),
    ],
)  # fmt: skip
def test_class_hook_refuses(source: str, message: str) -> None:
    outcome = run(source)
    assert isinstance(outcome.error, TypeError)
    assert str(outcome.error) == message


def test_type_takes_one_argument_and_never_hands_out_a_metaclass() -> None:
    outcome = ok(
        "import fastapi_poe as fp\n"
        "a = (type(1) is int, type(int) is type, type(type(fp.PartialResponse)) is type)\n"
        "b = (isinstance(int, type), issubclass(type(int), type), repr(type), type[int])\n"
    )
    assert outcome.globals["a"] == (True, True, True)
    assert outcome.globals["b"][:3] == (True, True, "<class 'type'>")
    outcome = ok(
        "def hello(self):\n    return 'hi ' + self._who\n"
        "X = type('X', (), {'_who': 'x', 'hello': hello})\n"
        "x = X()\nx.extra = 1\nr = (x.hello(), x.extra, type(X) is type)\n"
    )
    assert outcome.globals["r"] == ("hi x", 1, True)
    for namespace, message in [
        ("{'__del__': print}", "'__del__' cannot be defined"),
        ("{'__class__': int}", "'__class__' cannot be defined"),
        ("{'__metaclass__': 1}", "'__metaclass__' cannot be defined"),
    ]:
        outcome = run(f"X = type('X', (), {namespace})\n")
        assert isinstance(outcome.error, TypeError)
        assert message in str(outcome.error)
    outcome = run("import fastapi_poe as fp\nX = type('X', (fp.PartialResponse,), {})\n")
    assert str(outcome.error) == (
        "class X: cannot derive from classes with metaclass ModelMetaclass in scripts"
    )
    outcome = run("import typing\nX = type[int]('X', (), {})\n")
    assert isinstance(outcome.error, TypeError)


def test_everyday_fastapi_poe_uses_work_under_the_pydantic_allow_list() -> None:
    outcome = ok(
        "import fastapi_poe as fp\n"
        "p = fp.PartialResponse(text='hi', is_replace_response=True)\n"
        "parts = (p.text, p.is_replace_response, p.is_suggested_reply, p.attachment,\n"
        "         p.tool_calls, p.data, p.index, hasattr(p, 'text'), hasattr(p, 'model_fields'),\n"
        "         isinstance(p, fp.PartialResponse), type(p).__name__)\n"
        "m = fp.MetaResponse(text='', suggested_replies=False)\n"
        "e = fp.ErrorResponse(text='no', allow_retry=False)\n"
        "t = fp.ToolDefinition(type='function', function={'name': 'f', 'description': 'd',\n"
        "    'parameters': {'type': 'object', 'properties': {}, 'required': []}})\n"
        "tool = (t.type, t.function.name, t.function.description, t.function.parameters.type,\n"
        "        t.model_dump()['function']['name'])\n"
        "c = fp.ToolCallDefinition(id='c1', type='function',\n"
        "    function={'name': 'f', 'arguments': '{}'})\n"
        "r = fp.ToolResultDefinition(role='tool', name='f', tool_call_id=c.id, content='ok')\n"
        "a = fp.Attachment(url='https://x/y.png', content_type='image/png', name='y.png')\n"
        "q = fp.ProtocolMessage(role='user', content='hey', attachments=[a],\n"
        "                       sender=fp.Sender(id='u', name='Ann'))\n"
        "msg = (q.role, q.content, q.attachments[0].url, q.attachments[0].name,\n"
        "       q.attachments[0].content_type, q.attachments[0].parsed_content, q.sender.name,\n"
        "       q.content_type)\n"
        "same = fp.ProtocolMessage.model_validate(q.model_dump())\n"
        "json_same = fp.ProtocolMessage.model_validate_json(q.model_dump_json())\n"
        "copied = q.model_copy(deep=True)\n"
        "schema = fp.ToolDefinition.model_json_schema()['title']\n"
        "s = fp.SettingsResponse(introduction_message='hello')\n"
        "try:\n"
        "    fp.PartialResponse(text=1)\n"
        "except ValueError as err:\n"
        "    error = (type(err).__name__, err.errors()[0]['loc'])\n"
        "out = (parts, m.suggested_replies, e.allow_retry, tool, c.function.arguments, r.content,\n"
        "       msg, same == q, json_same == q, copied == q, schema, s.introduction_message,\n"
        "       error)\n"
    )
    assert outcome.globals["out"] == (
        ("hi", True, False, None, [], None, None, True, False, True, "PartialResponse"),
        *(False, False, ("function", "f", "d", "object", "f"), "{}", "ok"),
        ("user", "hey", "https://x/y.png", "y.png", "image/png", None, "Ann", "text/markdown"),
        *(True, True, True, "ToolDefinition", "hello", ("ValidationError", ("text",))),
    )
