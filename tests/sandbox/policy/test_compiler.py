"""compile_script / check_source: positions, annotations as objects, refusals, limits."""

from __future__ import annotations

import time

import pytest

from sandbox.policy import MAX_SOURCE_BYTES, Problem, SourceRejected, check_source, compile_script
from sandbox.policy.compiler import RESERVED_NAMES, SANDBOX_NAMES, UNWRITABLE_ATTRIBUTES
from tests.sandbox.policy.harness import ok, run


def test_clean_source_has_no_problems() -> None:
    assert check_source("x = 1\nprint(x)\n") == []
    assert compile_script("x = 1\n").co_filename == "<script>"


def test_every_problem_is_reported_with_line_and_column() -> None:
    problems = check_source("x = 1\ny = _getattr_\n  \nx.__class__ = int\n")
    assert problems == [
        Problem(2, 5, f'"_getattr_" is reserved: {SANDBOX_NAMES["_getattr_"]}'),
        Problem(4, 1, f'"__class__" cannot be set: {UNWRITABLE_ATTRIBUTES["__class__"]}'),
    ]


def test_syntax_error_keeps_the_parser_position() -> None:
    assert check_source("x = (1,\n") == [Problem(1, 5, "'(' was never closed")]


def test_compiler_errors_after_parsing_are_problems_too() -> None:
    assert check_source("return 1\n") == [Problem(1, 1, "'return' outside function")]


def test_source_rejected_carries_its_problems() -> None:
    with pytest.raises(SourceRejected) as info:
        compile_script("import os as _write_\n")
    message = f'"_write_" is reserved: {SANDBOX_NAMES["_write_"]}'
    assert info.value.problems == [Problem(1, 1, message)]
    assert str(info.value) == f"1:1: {message}"


def test_size_limit_counts_utf8_bytes() -> None:
    assert check_source("#" + "x" * (MAX_SOURCE_BYTES - 1)) == []
    assert check_source("#" + "é" * (MAX_SOURCE_BYTES // 2)) == [
        Problem(1, 1, f"source is larger than {MAX_SOURCE_BYTES} bytes")
    ]


def test_nul_bytes_and_absurd_nesting_are_problems_not_crashes() -> None:
    assert "null bytes" in check_source("x = 1\0")[0].message
    assert check_source("x = " + "+".join(["1"] * 50_000)) in (
        [Problem(1, 1, "source is too deeply nested")],
        [],  # a compiler with enough stack may take it
    )


def test_invalid_escape_warnings_do_not_escape_the_compiler() -> None:
    # DeprecationWarning at parse time; pytest turns warnings into errors.
    assert check_source('x = "\\d"\n') == []


def test_annotations_are_real_objects() -> None:
    outcome = ok(
        "import typing\n"
        "class Doc:\n"
        "    def __init__(self, t, d):\n"
        "        self.t = t\n"
        "        self.d = d\n"
        "def f(x: typing.Optional[int], y: list[str] = None) -> dict:\n"
        "    return {}\n"
        "doc = Doc(str, 'city')\n"
        "def g(city: doc) -> None:\n"
        "    pass\n"
    )
    g, f = outcome.globals["g"], outcome.globals["f"]
    assert g.__annotations__["city"] is outcome.globals["doc"]
    assert f.__annotations__ == {"x": int | None, "y": list[str], "return": dict}


def test_future_annotations_keep_annotations_as_strings() -> None:
    outcome = ok(
        '"""A bot."""\n'
        "from __future__ import annotations\n"
        "def f(x: SomethingUndefined) -> list[int]:\n"
        "    return [x]\n"
        "print(f(1), __doc__)\n"
    )
    assert outcome.text == "[1] A bot.\n"
    assert outcome.globals["f"].__annotations__ == {
        "x": "SomethingUndefined",
        "return": "list[int]",
    }
    assert check_source("from __future__ import division, generator_stop\nprint(1)\n") == []


def test_string_annotations_are_kept_as_written() -> None:
    outcome = ok("def f(x: 'os.system') -> 'int':\n    pass\nv: 'x' = 1\n")
    assert outcome.globals["f"].__annotations__ == {"x": "os.system", "return": "int"}


def test_annotated_assignments_work_in_classes_and_functions() -> None:
    outcome = ok(
        "class C:\n    x: int = 1\n    y: str\ndef f():\n    z: int = 2\n    return z\nr = f()\n"
    )
    assert outcome.globals["C"].__annotations__ == {"x": int, "y": str}
    assert outcome.globals["r"] == 2


def test_augmented_assignment_of_attributes_and_items() -> None:
    outcome = ok(
        "class C:\n"
        "    def __init__(self):\n"
        "        self.n = 1\n"
        "        self.items = [1]\n"
        "    def bump(self):\n"
        "        self.n += 1\n"
        "        self.items += [2]\n"
        "c = C()\nc.bump()\n"
        "d = {'a': 1}\nd['a'] *= 10\n"
        "lst = [1, 2]\nalias = lst\nlst[0] -= 1\n"
        "counts = {}\nfor w in 'a b a'.split():\n    counts[w] = counts.get(w, 0)\n"
        "    counts[w] += 1\n"
    )
    g = outcome.globals
    assert (g["c"].n, g["c"].items, g["d"], g["alias"]) == (2, [1, 2], {"a": 10}, [0, 2])
    assert g["counts"] == {"a": 2, "b": 1}
    assert not [name for name in g if name.startswith("_tmp")]


def test_augmented_assignment_evaluates_target_once() -> None:
    outcome = ok(
        "calls = []\n"
        "box = {'k': 1}\n"
        "def get():\n    calls.append('get')\n    return box\n"
        "def key():\n    calls.append('key')\n    return 'k'\n"
        "get()[key()] += 1\n"
    )
    assert outcome.globals["calls"] == ["get", "key"]
    assert outcome.globals["box"] == {"k": 2}


def test_augmented_assignment_of_private_attributes_works_and_class_is_refused() -> None:
    outcome = ok(
        "class C:\n    def __init__(self):\n        self._n = 1\n"
        "    def bump(self):\n        self._n += 1\n        return self._n\n"
        "r = C().bump()\n"
    )
    assert outcome.globals["r"] == 2
    assert check_source("x.__class__ += 1\n")[0].message == (
        f'"__class__" cannot be set: {UNWRITABLE_ATTRIBUTES["__class__"]}'
    )


def test_private_names_and_keyword_arguments_work() -> None:
    outcome = ok(
        "_LIMIT = 3\n"
        "def _helper(_x, *, _depth=0):\n    return _x * _LIMIT + _depth\n"
        "r = _helper(2, _depth=1)\n"
        "d = dict(_private=1)\n"
    )
    assert (outcome.globals["r"], outcome.globals["d"]) == (7, {"_private": 1})


def test_nonlocal_and_global_work_with_public_names() -> None:
    outcome = ok(
        "total = 0\n"
        "def add(n):\n    global total\n    total += n\n"
        "def counter():\n    count = 0\n    def bump():\n        nonlocal count\n"
        "        count += 1\n        return count\n    return bump\n"
        "add(5)\nb = counter()\nb()\nlast = b()\n"
    )
    assert (outcome.globals["total"], outcome.globals["last"]) == (5, 2)
    assert check_source("def f():\n    global _getattr_\n")[0].message == (
        f'"_getattr_" is reserved: {SANDBOX_NAMES["_getattr_"]}'
    )


def test_printed_is_an_ordinary_name_and_print_is_reserved() -> None:
    assert ok("printed = 3\nprint(printed)\n").text == "3\n"
    assert check_source("def print(x):\n    pass\n")[0].message == (
        f'"print" cannot be assigned: {RESERVED_NAMES["print"]}'
    )


def test_dunder_name_reads_main() -> None:
    assert ok('if __name__ == "__main__":\n    print("main")\n').text == "main\n"
    assert ok("__name__ = 'x'\nprint(__name__)\n").text == "x\n"


def test_script_classes_may_define_special_methods_but_not_finalizers() -> None:
    outcome = ok(
        "class C:\n"
        "    def __getattr__(self, n):\n        return n.upper()\n"
        "    def __init_subclass__(cls, **kw):\n        cls.tag = kw.get('tag')\n"
        "    def __class_getitem__(cls, item):\n        return (cls, item)\n"
        "class D(C, tag='d'):\n    pass\n"
        "r = (C().hello, D.tag, C[int][1])\n"
    )
    assert outcome.globals["r"] == ("HELLO", "d", int)
    assert check_source("class C:\n    def __del__(self):\n        pass\n") == [
        Problem(2, 5, f'"__del__" is reserved: {SANDBOX_NAMES["__del__"]}')
    ]
    assert check_source("class C:\n    pass\nC.__del__ = print\n")[0].message == (
        f'"__del__" cannot be set: {UNWRITABLE_ATTRIBUTES["__del__"]}'
    )


def test_class_keywords_are_kept_and_metaclass_refused() -> None:
    outcome = ok(
        "import typing\nclass TD(typing.TypedDict, total=False):\n    a: int\nclass C:\n    pass\n"
    )
    assert outcome.globals["TD"].__total__ is False
    assert check_source("class C(metaclass=type):\n    pass\n")[0].message == (
        'The keyword argument "metaclass" is not allowed.'
    )


def test_class_positions_are_the_source_lines() -> None:
    outcome = run("x = 1\n\nclass C:\n    y = 1 / 0\n")
    assert outcome.error is not None
    tb = outcome.error.__traceback__
    lines = []
    while tb is not None:
        lines.append(tb.tb_lineno)
        tb = tb.tb_next
    assert lines[-2:] == [3, 4]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("match x:\n    case 1:\n        pass\n", "Match statements are not allowed."),
        (
            "try:\n    pass\nexcept* ValueError:\n    pass\n",
            "TryStar statements are not allowed.",
        ),
        ("from . import x\n", "relative imports are not available: a script is a single file"),
        ("exec('1')\n", "Exec calls are not allowed."),
        ("eval('1')\n", "Eval calls are not allowed."),
        ("from json import *\n", '"*" imports are not allowed: import the names you use'),
        (
            "for _tmp1 in []:\n    pass\n",
            '"_tmp1" is reserved for the compiled script\'s temporaries',
        ),
    ],
)
def test_refused_syntax(source: str, message: str) -> None:
    assert message in [p.message for p in check_source(source)]


def test_compile_time_stays_linear_in_attribute_chains() -> None:
    # Each rewrite of a.b.c... used to re-walk the chain below it: a 256 KiB upload of such
    # chains took 85-113 s of CPU. Linear now (benchmarks/compile_source.py has figures);
    # the bound is against a hang, not a timing goal.
    line = "x = a" + ".b" * 150 + "\n"
    source = line * (MAX_SOURCE_BYTES // len(line))
    started = time.monotonic()
    assert check_source(source) == []
    assert time.monotonic() - started < 90
