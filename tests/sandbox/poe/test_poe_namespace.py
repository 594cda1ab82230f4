"""The global `poe`: every reference name, query and set_query, print and input, and what a
hostile script can reach through public attribute names."""

from __future__ import annotations

import ast
import collections
import contextvars
import sys
import threading
import types
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import fastapi_poe as fp
import pytest

import sandbox.poe
from sandbox.poe import BotCallError, LimitReached, MemoryPort
from sandbox.poe.parallel import Pool
from sandbox.poe.response import Response
from sandbox.poe.runtime import Runtime
from tests.sandbox.poe.harness import BOT_NAME, MakeRun, Run, text_bot

REFERENCE_NAMES = [
    "Sender",
    "Attachment",
    "Message",
    "Chat",
    "call",
    "stream",
    "parallel",
    "repeat",
    "start_message",
    "call_tools",
    "update_tool_calls",
    "query",
    "default_chat",
    "bot_name",
    "Doc",
    "BotError",
    "set_query",
]
#: Poe's current reference (SPEC §10) adds these.
CURRENT_REFERENCE_NAMES = ["UserMember", "update_settings"]


def test_poe_has_every_reference_name_and_no_other(run: Run) -> None:
    public = {name for name in dir(run.poe) if not name.startswith("_")}
    assert public == set(REFERENCE_NAMES + CURRENT_REFERENCE_NAMES)
    assert not isinstance(run.poe, types.ModuleType)


def test_bot_name(run: Run) -> None:
    assert run.poe.bot_name == BOT_NAME


def test_query_is_the_last_user_message(make_run: MakeRun) -> None:
    run = make_run(
        conversation=[
            fp.ProtocolMessage(role="system", content="be nice"),
            fp.ProtocolMessage(role="user", content="first"),
            fp.ProtocolMessage(role="bot", content="answer"),
            fp.ProtocolMessage(role="user", content="second"),
        ]
    )
    assert isinstance(run.poe.query, run.poe.Message)
    assert run.poe.query.text == "second" and run.poe.query.role == "user"
    assert run.poe.query is run.poe.default_chat.last


def test_query_without_a_query_raises_value_error(make_run: MakeRun) -> None:
    run = make_run(conversation=[])
    with pytest.raises(ValueError):
        run.poe.query  # noqa: B018
    assert len(run.poe.default_chat) == 0


def test_set_query_overrides_within_the_block(make_run: MakeRun) -> None:
    run = make_run(conversation=[])
    poe = run.poe
    with poe.set_query("Testing...") as query:
        assert poe.query.text == "Testing..." and poe.query is query
        assert poe.query.role == "user"
        replacement = poe.Message(text="inner", sender="user")
        with poe.set_query(replacement):
            assert poe.query is replacement
        assert poe.query.text == "Testing..."
    with pytest.raises(ValueError):
        poe.query  # noqa: B018
    with pytest.raises(TypeError):
        poe.set_query(3)


def test_bot_error_carries_its_message(run: Run) -> None:
    error = run.poe.BotError("I only talk about cats!")
    assert error.message == "I only talk about cats!" and str(error) == "I only talk about cats!"
    assert issubclass(BotCallError, run.poe.BotError)
    assert not issubclass(LimitReached, run.poe.BotError)


def test_start_message_is_default_chat_start_message(run: Run) -> None:
    msg = run.poe.start_message()
    assert run.poe.default_chat.last is msg
    assert msg.sender == run.poe.Sender(role="bot", name=BOT_NAME) and msg.in_progress
    user = run.poe.start_message(sender="user", content_type="text/plain")
    assert user.role == "user" and user.content_type == "text/plain"
    with run.poe.Chat() as side:
        assert run.poe.start_message() is side.last


def test_input_is_not_supported(run: Run) -> None:
    with pytest.raises(NotImplementedError):
        run.ns.input("Your name? ")


def test_print_defaults_and_argument_checks(run: Run) -> None:
    run.print("a", 1, None, sep=None, end=None)
    assert run.poe.default_chat.last.text == "a 1 None"
    assert run.poe.default_chat.last.sender.name == BOT_NAME
    with pytest.raises(TypeError):
        run.print("a", sep=1)


def test_each_run_has_its_own_classes(make_run: MakeRun) -> None:
    first, second = make_run(), make_run()
    assert first.poe.Message is not second.poe.Message
    assert first.poe.Message.__name__ == "Message" and repr(first.poe.Chat) == "<class 'poe.Chat'>"
    first.poe.default_chat.add_message("only in the first run")
    assert second.port.events == []


# -- security: what public names reach --------------------------------------------------------

FORBIDDEN = (
    MemoryPort,
    Runtime,
    Response,
    Pool,
    ThreadPoolExecutor,
    threading.Thread,
    threading.Event,
    type(threading.Lock()),
    type(threading.RLock()),
    contextvars.ContextVar,
    types.ModuleType,
    types.FrameType,
    types.GeneratorType,
    types.CodeType,
)


def _is_ours(obj: object) -> bool:
    module = getattr(obj, "__module__", None) or getattr(type(obj), "__module__", "")
    return isinstance(module, str) and (module == "poe" or module.startswith("sandbox"))


def _reachable(roots: dict[str, object]) -> Iterator[tuple[str, object]]:
    seen: set[int] = set()
    queue = collections.deque(roots.items())
    while queue:
        path, obj = queue.popleft()
        if id(obj) in seen or path.count(".") > 6:
            continue
        seen.add(id(obj))
        yield path, obj
        children: list[tuple[str, object]] = []
        if isinstance(obj, list | tuple | set | frozenset):
            children = [(f"{path}[{i}]", v) for i, v in enumerate(obj)]
        elif isinstance(obj, dict):
            children = [(f"{path}[{k!r}]", v) for k, v in obj.items()]
        elif isinstance(obj, property):
            children = [(f"{path}.fget", obj.fget), (f"{path}.fset", obj.fset)]
        elif _is_ours(obj):
            for name in dir(obj):
                if name.startswith("_"):
                    continue  # RestrictedPython refuses these names
                try:
                    value = getattr(obj, name)
                except Exception:  # e.g. poe.query without a query
                    continue
                children.append((f"{path}.{name}", value))
                if isinstance(obj, type):  # the raw descriptor as well (poe.Chat.last)
                    for klass in obj.__mro__:
                        if name in vars(klass):
                            children.append((f"{path}.{name}<raw>", vars(klass)[name]))
                            break
        queue.extend(children)


def _functions_state(obj: object) -> list[object]:
    """What a function reachable by the script holds in its globals and closure."""
    func = getattr(obj, "__func__", obj)
    if not isinstance(func, types.FunctionType):
        return []
    held = list(func.__globals__.values())
    held += [cell.cell_contents for cell in func.__closure__ or ()]
    return held


def test_no_public_path_reaches_the_port_locks_pools_or_modules(make_run: MakeRun) -> None:
    run = make_run({"B": text_bot("x")})
    poe = run.poe
    message = poe.Message(text="m", in_progress=True)
    message.attach_file(name="a.png", contents=b"a", is_inline=True)
    chat = poe.Chat("a", message, quiet=False)
    roots: dict[str, object] = {
        "poe": poe,
        "print": run.ns.print,
        "input": run.ns.input,
        "message": message,
        "chat": chat,
        "reply": poe.call("B", "x"),
        "stream": poe.stream("B", "x"),
        "set_query": poe.set_query("x"),
        "doc": poe.Doc[str, "d"],
        "bot_error": BotCallError("B", "failed"),
        "limit": LimitReached("output"),
        "sender": poe.Sender(role="bot"),
    }
    for path, obj in _reachable(roots):
        assert not isinstance(obj, FORBIDDEN), f"{path} exposes {type(obj).__name__}"
        for value in _functions_state(obj):
            assert not isinstance(value, FORBIDDEN[:-5]), f"{path} holds {type(value).__name__}"


def test_runtime_imports_only_stdlib_fastapi_poe_and_protocol() -> None:
    allowed_local = ("sandbox.protocol", "sandbox.poe")
    package = Path(sandbox.poe.__file__).parent
    for source in package.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert (
                    top in sys.stdlib_module_names
                    or top == "fastapi_poe"
                    or name.startswith(allowed_local)
                ), f"{source.name} imports {name}"
                assert top not in {"socket", "subprocess", "http", "urllib", "sqlite3", "os"}, (
                    f"{source.name} imports {name}"
                )


def test_finish_stops_the_thread_pool(run: Run) -> None:
    assert run.poe.parallel(lambda: 1, lambda: 2) == [1, 2]
    run.ns.finish()
    with pytest.raises(RuntimeError):
        run.poe.parallel(lambda: 1)
