"""The allow-listed modules: everyday use works, proxies are read-only, the rest is refused."""

from __future__ import annotations

import importlib
import importlib.util
import json
import subprocess
import sys
import textwrap
import types

import pytest

from sandbox.policy import PREIMPORT
from sandbox.policy.guards import _DENIED_VALUE_IDS
from sandbox.policy.modules import (
    ALLOWED_MODULES,
    DENIED_MODULES,
    DENIED_NAMES,
    LEAN_MODULES,
    ONLY_NAMES,
    PACKAGE_WRAPPED_NAMES,
    PACKAGES,
    TYPE_DENIED_ATTRIBUTES,
    WRAPPED_NAMES,
    ModuleProxy,
    import_hook,
    module_proxy,
    public_names,
    refusal,
)
from tests.sandbox.policy.harness import ok, run

#: A script using every allowed module the way bot authors do; it checks its own results.
EVERYDAY_SOURCE = r"""
import json, re, math, random, datetime, time, itertools, functools, collections, string
import textwrap, dataclasses, typing, enum, decimal, fractions, statistics, base64, hashlib
import uuid, html, csv, io
import collections.abc
from collections.abc import Mapping
import fastapi_poe as fp
from fastapi_poe import PartialResponse

assert json.loads(json.dumps({"a": [1, 2.5, None]})) == {"a": [1, 2.5, None]}
assert json.dumps({"b": 1, "a": 2}, sort_keys=True, indent=1).startswith("{\n")
try:
    json.loads("{")
except json.JSONDecodeError as exc:
    assert exc.pos == 1
assert re.sub(r"(\w+)@(\w+)", r"\2 at \1", "me@home") == "home at me"
assert re.findall(r"\N{DIGIT ONE}\d", "11 12") == ["11", "12"]
assert re.compile("a+", re.I).fullmatch("AaA").group(0) == "AaA"
assert math.isclose(math.sqrt(2) ** 2, 2) and math.factorial(5) == 120
random.seed(1)
assert random.choice("abc") in "abc" and 1 <= random.randint(1, 6) <= 6
assert len(random.sample(range(10), 3)) == 3 and random.SystemRandom().random() < 1
day = datetime.datetime.strptime("2024-02-29 13:05", "%Y-%m-%d %H:%M")
assert (day + datetime.timedelta(days=1)).strftime("%d/%m") == "01/03"
assert datetime.datetime.now(datetime.timezone.utc).tzinfo is datetime.timezone.utc
assert datetime.date.fromisoformat("2024-01-02").isoformat() == "2024-01-02"
assert time.strptime("2024", "%Y").tm_year == 2024 and time.time() > 0
time.sleep(0)
assert time.strftime("%Y", time.gmtime(0)) == "1970" and time.monotonic() > 0
assert list(itertools.islice(itertools.count(), 3)) == [0, 1, 2]
assert [k for k, _ in itertools.groupby("aabb")] == ["a", "b"]
assert list(itertools.chain.from_iterable([[1], [2]])) == [1, 2]
assert functools.reduce(lambda a, b: a * b, [1, 2, 3, 4]) == 24
assert functools.partial(int, base=2)("101") == 5
@functools.lru_cache(maxsize=None)
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)
assert fib(30) == 832040
@functools.cache
def twice(n):
    return 2 * n
assert twice(2) == 4
assert sorted([3, 1], key=functools.cmp_to_key(lambda a, b: a - b)) == [1, 3]
@functools.total_ordering
class Version:
    def __init__(self, n):
        self.n = n
    def __eq__(self, other):
        return self.n == other.n
    def __lt__(self, other):
        return self.n < other.n
assert Version(2) >= Version(1)
class Lazy:
    @functools.cached_property
    def value(self):
        return 42
assert Lazy().value == 42
counts = collections.Counter("mississippi")
assert counts.most_common(1) == [("i", 4)] and counts["s"] == 4
groups = collections.defaultdict(list)
groups["a"].append(1)
dq = collections.deque([1, 2], maxlen=2)
dq.append(3)
Point = collections.namedtuple("Point", "x y")
assert Point(1, 2).x == 1 and list(dq) == [2, 3] and groups == {"a": [1]}
assert collections.OrderedDict(a=1).popitem() == ("a", 1)
assert isinstance({}, Mapping) and isinstance([], collections.abc.Sequence)
assert string.ascii_lowercase[:3] == "abc" and string.capwords("hi there") == "Hi There"
assert string.Template("$who likes $what").substitute(who="tim", what="pie") == "tim likes pie"
assert textwrap.dedent("  a\n  b") == "a\nb" and textwrap.shorten("a b c d", 5) == "[...]"
assert textwrap.fill("word " * 5, width=10).count("\n") == 2
@dataclasses.dataclass(frozen=True)
class Item:
    name: str
    tags: list = dataclasses.field(default_factory=list)
    price: float = 0.0
item = Item("pen", ["blue"])
assert dataclasses.asdict(item) == {"name": "pen", "tags": ["blue"], "price": 0.0}
assert dataclasses.replace(item, price=2.0).price == 2.0 and dataclasses.is_dataclass(item)
assert [f.name for f in dataclasses.fields(Item)] == ["name", "tags", "price"]
try:
    item.name = "x"
except dataclasses.FrozenInstanceError:
    pass
@dataclasses.dataclass(slots=True)
class Slotted:
    a: int = 0
s = Slotted()
s.a = 3
assert s.a == 3
def maybe(x: typing.Optional[int] = None) -> typing.List[str]:
    return [str(x)]
assert typing.get_origin(typing.List[int]) is list and typing.get_args(typing.Optional[int])
assert typing.cast(int, "x") == "x" and maybe() == ["None"]
class Movie(typing.TypedDict):
    title: str
assert Movie(title="x") == {"title": "x"}
class Color(enum.Enum):
    RED = enum.auto()
    BLUE = enum.auto()
class Perm(enum.IntFlag):
    R = 4
    W = 2
class Level(str, enum.Enum):
    LOW = "low"
assert Color.RED.name == "RED" and Color(2) is Color.BLUE and (Perm.R | Perm.W) == 6
assert Level("low") is Level.LOW and [c.name for c in Color] == ["RED", "BLUE"]
Animal = enum.Enum("Animal", "CAT DOG")
Mood = enum.Enum("Mood", {"HAPPY": "h"})
Size = enum.IntEnum("Size", [("S", 1), ("M", 2)])
assert Animal.DOG.value == 2 and Mood("h").name == "HAPPY" and Size.M > Size.S
assert isinstance(Color.RED, enum.Enum) and isinstance(Size.S, int) and enum.unique(Color)
decimal.getcontext().prec = 6
assert str(decimal.Decimal(1) / decimal.Decimal(7)) == "0.142857"
cent = decimal.Decimal("0.01")
assert decimal.Decimal("1.005").quantize(cent, rounding=decimal.ROUND_HALF_UP) == cent * 101
assert f"{decimal.Decimal('1234.5'):,.2f}" == "1,234.50"
assert fractions.Fraction(1, 3) + fractions.Fraction(1, 6) == fractions.Fraction(1, 2)
assert fractions.Fraction("0.25") == fractions.Fraction(1, 4)
assert statistics.mean([1, 2, 3, 4]) == 2.5 and statistics.median([3, 1, 2]) == 2
assert round(statistics.stdev([1, 2, 3, 4]), 3) == 1.291
assert base64.b64decode(base64.b64encode(b"hi")) == b"hi"
assert base64.urlsafe_b64encode(b"\xff").decode() == "_w=="
assert hashlib.sha256(b"abc").hexdigest().startswith("ba7816bf")
assert hashlib.md5(b"").hexdigest() == "d41d8cd98f00b204e9800998ecf8427e"
assert hashlib.new("sha1", b"x").hexdigest() and hashlib.blake2b(b"x").digest_size == 64
assert len(str(uuid.uuid4())) == 36 and uuid.uuid5(uuid.NAMESPACE_DNS, "poe.com").version == 5
assert uuid.UUID(int=0).hex == "0" * 32 and uuid.uuid3(uuid.NAMESPACE_URL, "x").version == 3
assert html.escape("<a href='x'>") == "&lt;a href=&#x27;x&#x27;&gt;"
assert html.unescape("&eacute;&amp;") == "é&"
rows = list(csv.reader(io.StringIO("a,b\n1,\"2,3\"\n")))
assert rows == [["a", "b"], ["1", "2,3"]]
out = io.StringIO()
writer = csv.DictWriter(out, fieldnames=["x"])
writer.writeheader()
writer.writerow({"x": 1})
assert out.getvalue() == "x\r\n1\r\n"
assert next(csv.DictReader(io.StringIO("k,v\n1,2\n"))) == {"k": "1", "v": "2"}
assert io.BytesIO(b"abc").read(2) == b"ab"
text = io.TextIOWrapper(io.BytesIO("é".encode("latin-1")), encoding="latin-1").read()
assert text == "é" and "ü".encode("utf-16")[:2] in (b"\xff\xfe", b"\xfe\xff")
assert "bücher.de".encode("idna") == b"xn--bcher-kva.de"
part = fp.PartialResponse(text="x")
assert part.text == "x" and PartialResponse(text="y", is_replace_response=True).is_replace_response
tool = fp.ToolDefinition(
    type="function",
    function={"name": "f", "description": "d", "parameters": {"type": "object", "properties": {}}},
)
assert tool.function.name == "f"
assert fp.ProtocolMessage(role="user", content="hi").content == "hi"
assert fp.SettingsResponse(introduction_message="hey").introduction_message == "hey"
assert isinstance(fp.BotError("x"), Exception)
print("everyday ok")
"""


def test_everyday_use_of_every_allowed_module() -> None:
    assert ok(EVERYDAY_SOURCE).text == "everyday ok\n"


_METACLASSES_ALLOWED = {"enum", "typing"}  # their metaclass values: guards.py decides


@pytest.mark.parametrize("name", sorted({*ALLOWED_MODULES, *PACKAGES}))
def test_proxies_hold_public_non_module_names_only(name: str) -> None:
    proxy = module_proxy(name)
    module = importlib.import_module(name)
    for attr in dir(proxy):
        value = proxy._attrs[attr]  # as built: submodules not imported
        assert not attr.startswith("_"), (name, attr)
        assert attr not in DENIED_NAMES.get(name, {}), (name, attr)
        if name in ONLY_NAMES:
            assert attr in ONLY_NAMES[name] or f"{name}.{attr}" in ALLOWED_MODULES, attr
        if type(value).__name__ == "_Submodule":
            assert refusal(value.name) is None, (name, attr)
            continue
        # from m import x reads the proxy without _getattr_: its values must be safe as is.
        assert not isinstance(value, types.ModuleType), (name, attr)
        if name.partition(".")[0] not in _METACLASSES_ALLOWED:
            assert not (isinstance(value, type) and issubclass(value, type)), (name, attr)
        assert id(value) not in _DENIED_VALUE_IDS, (name, attr)
        if isinstance(value, ModuleProxy):
            assert refusal(f"{name}.{attr}") is None
        elif attr in WRAPPED_NAMES.get(name, {}):
            assert value is WRAPPED_NAMES[name][attr][0]
        elif attr not in PACKAGE_WRAPPED_NAMES.get(name, {}):
            real = getattr(module, attr)
            assert value is real or (not callable(real) and value == real), (name, attr)


def test_policy_names_exist_so_typos_cannot_allow_anything() -> None:
    for name, denied in {**DENIED_NAMES, **WRAPPED_NAMES, **PACKAGE_WRAPPED_NAMES}.items():
        assert refusal(name) is None, name
        module = importlib.import_module(name)
        assert set(denied) <= set(public_names(module)) | set(dir(module)), name
    for name, names in ONLY_NAMES.items():
        module = importlib.import_module(name)
        assert [n for n in names if not hasattr(module, n)] == [], name
    for name in ALLOWED_MODULES:
        parent = name.rpartition(".")[0]
        assert not parent or parent in ALLOWED_MODULES
    for name in DENIED_MODULES:  # a typo would leave the real module importable
        top = name.partition(".")[0]
        if top in PACKAGES or importlib.util.find_spec(top) is not None:
            assert importlib.util.find_spec(name) is not None, name
    for dotted in TYPE_DENIED_ATTRIBUTES:
        home, _, qualname = dotted.rpartition(".")
        assert isinstance(getattr(importlib.import_module(home), qualname), type), dotted
    assert set(LEAN_MODULES) <= set(ALLOWED_MODULES)


def test_proxies_are_read_only_and_nameless() -> None:
    proxy = module_proxy("json")
    with pytest.raises(AttributeError, match="module 'json' is read-only"):
        proxy.dumps = None
    with pytest.raises(AttributeError, match="read-only"):
        del proxy.dumps
    assert not hasattr(proxy, "__name__")
    assert repr(proxy) == "<module 'json' (restricted)>"


def test_import_spellings_of_allowed_modules() -> None:
    outcome = ok(
        "import collections.abc\nimport collections.abc as cabc\n"
        "from collections import abc, Counter\nimport fastapi_poe as fp\n"
        "same = (collections.abc is cabc is abc, Counter is collections.Counter)\n"
    )
    assert outcome.globals["same"] == (True, True)


def test_refused_imports_name_the_module() -> None:
    for statement, module in [
        ("import subprocess", "subprocess"),
        ("import json.decoder", "json.decoder"),
        ("from fastapi_poe import client_session", None),
        ("import fastapi_poe.templates", "fastapi_poe.templates"),
    ]:
        outcome = run(statement + "\n")
        assert isinstance(outcome.error, ImportError)
        if module:
            assert str(outcome.error).startswith(f"import of {module!r} is not allowed in scripts")
            assert outcome.error.name == module


def test_fastapi_poe_type_submodules_show_the_reviewed_surface_of_fp() -> None:
    outcome = ok(
        "from fastapi_poe.types import SettingsResponse, ParameterControls, Section, Slider\n"
        "import fastapi_poe as fp\nimport fastapi_poe.types\nimport fastapi_poe.types as t\n"
        "from fastapi_poe.client import BotError\n"
        "same = (SettingsResponse is fp.SettingsResponse, t is fastapi_poe.types is fp.types,"
        " BotError is fp.BotError)\n"
        "s = SettingsResponse(parameter_controls=ParameterControls(api_version='2', sections=["
        "Section(name='S', controls=[Slider(label='T', parameter_name='t', min_value=0,"
        " max_value=1, step=0.1, default_value=0.5)])]))\n"
    )
    assert outcome.globals["same"] == (True, True, True)
    fp_names = set(dir(module_proxy("fastapi_poe")))
    for sub in ("fastapi_poe.types", "fastapi_poe.client", "fastapi_poe.base"):
        names = set(dir(module_proxy(sub)))
        assert names and names <= fp_names, sub
        for name in names:
            assert getattr(module_proxy(sub), name) is getattr(module_proxy("fastapi_poe"), name)
    assert "SettingsResponse" in dir(module_proxy("fastapi_poe.types"))


def test_fastapi_poe_types_keeps_pydantic_and_serving_names_out() -> None:
    for statement in (
        "from fastapi_poe.types import BaseModel",
        "from fastapi_poe.types import Field",
        "from fastapi_poe.types import RequestContext",
        "from fastapi_poe.client import stream_request",
        "from fastapi_poe.base import PoeBot",
        "from fastapi_poe.base import make_app",
    ):
        outcome = run(statement + "\n")
        assert isinstance(outcome.error, ImportError), statement


def test_hook_serves_c_code_from_loaded_modules_only() -> None:
    assert import_hook("time", None, None, [], 0) is None  # loaded: C takes it itself
    with pytest.raises(ImportError, match="'no_such_module' was not loaded"):
        import_hook("no_such_module", None, None, [], 0)
    with pytest.raises(ImportError, match="relative imports"):
        import_hook("json", None, None, None, 1)
    with pytest.raises(ImportError, match="module names must be strings"):
        import_hook(type("S", (str,), {})("json"))


def test_preimport_covers_everything_the_modules_load_lazily() -> None:
    """In a fresh interpreter: after PREIMPORT, running every module imports nothing new."""
    program = textwrap.dedent(
        f"""
        import importlib, json, sys
        from sandbox.policy import PREIMPORT, compile_script, script_globals, warm_up
        warm_up()
        code = compile_script({EVERYDAY_SOURCE!r})
        before = set(sys.modules)
        out = []
        exec(code, script_globals(poe=None, print_function=lambda *a, **k: out.append(a),
                                  input_function=input))
        assert out == [("everyday ok",)], out
        print(json.dumps(sorted(set(sys.modules) - before)))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
    assert len(set(PREIMPORT)) == len(PREIMPORT)
