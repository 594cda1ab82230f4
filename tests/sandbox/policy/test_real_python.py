"""The Python real script bots are written in runs unchanged under the policy.

Each test is a construct the first release refused; tests/escapes/test_relaxed_rules.py
holds the hostile scripts beside each one."""

from __future__ import annotations

from tests.sandbox.policy.harness import ok


def test_private_names_attributes_and_name_mangling() -> None:
    outcome = ok(
        "_CACHE = {}\n"
        "class Bot:\n"
        "    _count = 0\n"
        "    def __init__(self):\n"
        "        self._seen = []\n"
        "        self.__secret = 'mine'\n"
        "    def _remember(self, text):\n"
        "        self._seen.append(text)\n"
        "        Bot._count += 1\n"
        "        _CACHE[text] = len(self._seen)\n"
        "        return self.__secret\n"
        "b = Bot()\n"
        "r = (b._remember('a'), b._seen, Bot._count, _CACHE, b._Bot__secret)\n"
    )
    assert outcome.globals["r"] == ("mine", ["a"], 1, {"a": 1}, "mine")


def test_special_methods_of_script_classes() -> None:
    outcome = ok(
        "class Vec:\n"
        "    __slots__ = ('x', 'y')\n"
        "    def __init__(self, x, y):\n        self.x, self.y = x, y\n"
        "    def __repr__(self):\n        return f'Vec({self.x}, {self.y})'\n"
        "    def __eq__(self, o):\n        return (self.x, self.y) == (o.x, o.y)\n"
        "    def __hash__(self):\n        return hash((self.x, self.y))\n"
        "    def __add__(self, o):\n        return Vec(self.x + o.x, self.y + o.y)\n"
        "    def __iter__(self):\n        yield self.x\n        yield self.y\n"
        "    def __len__(self):\n        return 2\n"
        "class Ctx:\n"
        "    def __enter__(self):\n        return 'in'\n"
        "    def __exit__(self, *exc):\n        return False\n"
        "class Lazy:\n"
        "    def __getattr__(self, name):\n        return name * 2\n"
        "    def __setattr__(self, name, value):\n"
        "        object.__setattr__(self, name, value * 10)\n"
        "class Base:\n"
        "    def __init__(self, v):\n        self.v = v\n"
        "class Child(Base):\n"
        "    def __init__(self):\n        super().__init__(5)\n"
        "with Ctx() as c:\n    pass\n"
        "lazy = Lazy()\nlazy.n = 2\n"
        "r = (Vec(1, 2) + Vec(3, 4), list(Vec(1, 2)), len(Vec(0, 0)), {Vec(1, 1)}, c,\n"
        "     lazy.ab, lazy.n, Child().v, Vec(1, 2) == Vec(1, 2))\n"
    )
    assert (
        repr(outcome.globals["r"])
        == "(Vec(4, 6), [1, 2], 2, {Vec(1, 1)}, 'in', 'abab', 20, 5, True)"
    )


def test_dict_vars_globals_and_locals_of_the_script() -> None:
    outcome = ok(
        "class Config:\n"
        "    def __init__(self):\n        self.model = 'x'\n        self._t = 0.5\n"
        "c = Config()\n"
        "def scope(a, b=2):\n    z = a + b\n    return sorted(locals())\n"
        "globals()['dynamic'] = 42\n"
        "def f():\n    pass\n"
        "r = (c.__dict__, vars(c), '__init__' in Config.__dict__, scope(1),\n"
        "     'dynamic' in globals(), '__builtins__' in globals(), f.__globals__['dynamic'],\n"
        "     sorted(vars())[:1])\n"
    )
    r = outcome.globals["r"]
    assert r[0] == r[1] == {"model": "x", "_t": 0.5}
    assert r[2] is True
    assert r[3] == ["a", "b", "z"]
    assert r[4:] == (True, False, 42, ["Config"])


def test_three_argument_type_and_dynamic_classes() -> None:
    outcome = ok(
        "def greet(self):\n    return 'hi ' + self.name\n"
        "Person = type('Person', (object,), {'name': 'Ann', 'greet': greet})\n"
        "Error = type('Error', (ValueError,), {})\n"
        "r = (Person().greet(), issubclass(Error, ValueError), Person.__name__)\n"
    )
    assert outcome.globals["r"] == ("hi Ann", True, "Person")


def test_prompt_templates_with_format_and_formatter() -> None:
    outcome = ok(
        "import string\n"
        "PROMPT = 'You are {role}. Answer in {lang}: {q.text}'\n"
        "class Q:\n    text = 'why?'\n"
        "class Upper(string.Formatter):\n"
        "    def format_field(self, value, spec):\n"
        "        return str(value).upper()\n"
        "print(PROMPT.format(role='a poet', lang='French', q=Q()))\n"
        "print(PROMPT.format_map({'role': 'x', 'lang': 'y', 'q': Q()}))\n"
        "print(Upper().format('{0} {name}', 'a', name='b'))\n"
        "import datetime\n"
        "print(str.format('{}-{}', 1, 2), '{:%Y}'.format(datetime.date(2026, 1, 2)))\n"
    )
    assert outcome.text == (
        "You are a poet. Answer in French: why?\nYou are x. Answer in y: why?\nA B\n1-2 2026\n"
    )


def test_future_annotations_dataclasses_and_namedtuples() -> None:
    outcome = ok(
        "from __future__ import annotations\n"
        "import dataclasses, collections, enum, functools\n"
        "@dataclasses.dataclass\n"
        "class Turn:\n"
        "    role: str\n"
        "    _tokens: int = 0\n"
        "    def __post_init__(self):\n        self._tokens = len(self.role)\n"
        "P = collections.namedtuple('P', 'x y')\n"
        "class Color(enum.Enum):\n"
        "    RED = 'red'\n"
        "    @classmethod\n"
        "    def _missing_(cls, value):\n        return cls.RED\n"
        "def deco(fn):\n"
        "    @functools.wraps(fn)\n"
        "    def inner(*a):\n        return fn(*a) + 1\n"
        "    return inner\n"
        "@deco\ndef one() -> int:\n    '''One.'''\n    return 1\n"
        "p = P(1, 2)\n"
        "r = (Turn('user')._tokens, p._asdict(), p._replace(x=5), P._fields, Color('?'),\n"
        "     one(), one.__name__, one.__doc__, one.__wrapped__() )\n"
    )
    assert repr(outcome.globals["r"]) == (
        "(4, {'x': 1, 'y': 2}, P(x=5, y=2), ('x', 'y'), <Color.RED: 'red'>, 2, 'one', 'One.', 1)"
    )


def test_async_functions_run_when_driven() -> None:
    outcome = ok(
        "class Later:\n"
        "    def __await__(self):\n        yield\n        return 3\n"
        "async def add(a):\n    b = await Later()\n    return a + b\n"
        "async def gen():\n    yield 1\n"
        "co = add(1)\nco.send(None)\n"
        "try:\n    co.send(None)\nexcept StopIteration as stop:\n    r = stop.value\n"
        "ag = gen()\nag.aclose().close()\n"
    )
    assert outcome.globals["r"] == 4


def test_main_guard_and_introspection_helpers() -> None:
    outcome = ok(
        "class A:\n    def _p(self):\n        pass\n"
        "if __name__ == '__main__':\n"
        "    print(sorted(n for n in dir(A()) if not n.startswith('__')), type(A()).__name__,\n"
        "          A().__class__.__name__, isinstance(A(), A))\n"
    )
    assert outcome.text == "['_p'] A A True\n"
