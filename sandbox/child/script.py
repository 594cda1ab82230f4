"""One run of one script inside the isolated child: compile, execute, report how it ended.

The broad ``except BaseException`` here is one of the codebase's three edges: whatever the
script raises (SystemExit and KeyboardInterrupt included) becomes the run's RunEnd.
"""

from __future__ import annotations

import builtins
import marshal
import sys
from types import CodeType, ModuleType
from typing import Any

import fastapi_poe as fp

from sandbox.extraction import SETTINGS_RUN_NAME, settings_run_source
from sandbox.poe.errors import BotError, LimitReached
from sandbox.poe.namespace import ScriptNamespace, build_namespace
from sandbox.poe.port import HostPort
from sandbox.poe.settings_run import SettingsRunPort
from sandbox.policy import SourceRejected, compile_script, format_script_error, script_globals
from sandbox.policy.compiler import FILENAME
from sandbox.policy.modules import import_hook_for
from sandbox.protocol import RunEnd, RunStart, is_limit_name

_THREAD_START_FAILED = "can't start new thread"
MAX_ERROR_CHARS = 20_000  # the host cuts there too; a script's exception text is its own


def run_script(start: RunStart, port: HostPort, *, unrestricted: bool = False) -> RunEnd:
    """Execute ``start.source`` to its end; never raises."""
    settings_run = start.mode == "settings"
    try:
        conversation = [fp.ProtocolMessage.model_validate(m) for m in start.conversation]
        namespace = build_namespace(
            SettingsRunPort(port) if settings_run else port,
            bot_name=start.bot_name,
            conversation=conversation,
            max_output_chars=start.limits.max_output_chars,
            users=[fp.User.model_validate(u) for u in start.users],
            settings_run=settings_run,
        )
        source = settings_run_source(start.source) if settings_run else start.source
        code, script_vars = _prepare(
            source, None if settings_run else start.code, namespace, unrestricted
        )
        if settings_run:  # the main block is cut off anyway; this is what the script sees
            script_vars["__name__"] = SETTINGS_RUN_NAME
            # Its classes' __module__: dataclasses looks the module up for string annotations.
            sys.modules.setdefault(SETTINGS_RUN_NAME, ModuleType(SETTINGS_RUN_NAME))
    except SourceRejected as exc:
        lines = [f"line {p.line}, column {p.col}: {p.message}" for p in exc.problems]
        first = exc.problems[0].line if exc.problems else None
        return RunEnd("error", "The script was rejected:\n" + "\n".join(lines), line=first)
    except BaseException as exc:  # a query the runtime cannot take: still one RunEnd
        return ending(exc)
    end = RunEnd("ok")
    try:
        exec(code, script_vars)
    except BaseException as exc:
        end = ending(exc, start.source)
    try:
        namespace.finish()
    except BaseException as exc:
        if end.status == "ok":
            end = ending(exc)
    return end


REHEARSAL_SOURCE = """
import json, re, datetime, math, decimal, hashlib
data = json.loads(json.dumps({"a": [1, 2.5, "x"]}))
when = datetime.datetime.strptime("2024-01-02 03:04", "%Y-%m-%d %H:%M")
digest = hashlib.sha256(b"x").hexdigest()
print(re.sub(r"\\d", "#", f"{data} {when:%c} {math.pi:.3f} {decimal.Decimal('1.1')} {digest}"))
with poe.start_message() as message:
    message.write("warm")
"""


SPARE_REHEARSAL_SOURCE = 'print("hi")\nwith poe.start_message() as m:\n    m.write("x")\n'
# Compiled once, in the template (which imports this module before any fork): a spare
# rehearses what a run of an already compiled version does (sandbox/compiled.py), loading
# marshalled code, not the restricted compiler's work, which took half its CPU (issue 15).
SPARE_REHEARSAL_CODE = marshal.dumps(compile_script(SPARE_REHEARSAL_SOURCE))


def rehearse(source: str = REHEARSAL_SOURCE, code: bytes | None = None) -> RunEnd:
    """Run a constant script against an in-memory port: in the template, so that lazy imports
    and caches are loaded before any fork; in a spare (a shorter one, ``code`` compiled in
    the template), so that the pages every run touches are copied before its RunStart
    arrives. Never sees anything of a real run."""
    from sandbox.poe.memory import MemoryPort
    from sandbox.protocol import HEADER, Started, decode, encode

    start = RunStart(
        source=source,
        bot_name="rehearsal",
        conversation=[{"role": "user", "content": "hello"}],
        code=code,
    )
    decode(encode(start)[HEADER.size :])
    encode(Started())
    return run_script(start, MemoryPort())


def _prepare(
    source: str, compiled: bytes | None, namespace: ScriptNamespace, unrestricted: bool
) -> tuple[CodeType, dict[str, Any]]:
    if not unrestricted:
        # The host's compiler made ``compiled`` from this very source (sandbox/compiled.py).
        code = marshal.loads(compiled) if compiled else compile_script(source)
        if not isinstance(code, CodeType):
            raise TypeError("the host sent no code object")
        script_vars = script_globals(
            poe=namespace.poe, print_function=namespace.print, input_function=namespace.input
        )
        script_vars["__builtins__"]["__import__"] = import_hook_for(namespace.poe)
        return code, script_vars
    # Test-only: plain Python, to show what the operating-system layer contains on its own.
    code = compile(source, "<script>", "exec", dont_inherit=True)
    script_vars = {
        "__name__": "__main__",
        "__builtins__": builtins,
        "poe": namespace.poe,
        "print": namespace.print,
        "fp": fp,
    }
    return code, script_vars


def ending(exc: BaseException, source: str | None = None) -> RunEnd:
    """The RunEnd for an exception that ended the script (``source`` shows its lines)."""
    end = _classify(exc, source)
    error = end.error
    if error is not None and len(error) > MAX_ERROR_CHARS:
        error = error[:MAX_ERROR_CHARS] + "…"
    return RunEnd(end.status, error, end.limit, _script_line(exc))


def _script_line(exc: BaseException) -> int | None:
    """The line of the innermost frame of the script's own code in ``exc``'s traceback."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _classify(exc: BaseException, source: str | None) -> RunEnd:
    try:
        if isinstance(exc, LimitReached):
            limit = exc.limit if is_limit_name(exc.limit) else None
            return RunEnd("error", _text(str(exc)), limit=limit)
        if isinstance(exc, MemoryError):
            return RunEnd("error", "The run reached its memory limit.", limit="memory")
        if isinstance(exc, BotError):
            message = exc.message if isinstance(exc.message, str) else str(exc)
            return RunEnd("error", _text(message) or type(exc).__name__)
        text = _text(format_script_error(exc, source))
        if isinstance(exc, RecursionError):
            return RunEnd("error", text, limit="recursion")
        if isinstance(exc, RuntimeError) and _THREAD_START_FAILED in str(exc):
            return RunEnd("error", text, limit="threads")
        return RunEnd("error", text)
    except MemoryError:
        return RunEnd("error", "The run reached its memory limit.", limit="memory")
    except BaseException:  # formatting failed (a hostile __str__?): the bare type still helps
        return RunEnd("error", f"{type(exc).__name__} (its message could not be shown)")


def _text(value: str) -> str:
    """An exact ``str`` (a script's str subclass could misbehave when encoded)."""
    return str.__str__(value) if isinstance(value, str) else "(no message)"
