"""poe.parallel and poe.repeat: the pool, exception modes, and chat writes from 21 threads."""

from __future__ import annotations

import collections
import threading
import time

import pytest

from sandbox.poe.parallel import POOL_THREADS
from sandbox.protocol import MessageAdded, MessageFinished, TextAppended
from tests.sandbox.poe.harness import MakeRun, Run, text_bot


def test_parallel_returns_results_in_task_order(run: Run) -> None:
    def slow(value: int, delay_s: float):
        def task() -> int:
            time.sleep(delay_s)
            return value

        return task

    assert run.poe.parallel(slow(1, 0.03), slow(2, 0.0), slow(3, 0.01)) == [1, 2, 3]
    assert run.poe.parallel() == []


def test_parallel_runs_21_tasks_at_once(run: Run) -> None:
    assert POOL_THREADS == 21
    barrier = threading.Barrier(21, timeout=10)
    threads = run.poe.parallel(*[lambda: barrier.wait() is not None and threading.get_ident()] * 21)
    assert len(set(threads)) == 21  # every task waited for all the others


def test_parallel_refuses_both_exception_flags(run: Run) -> None:
    with pytest.raises(ValueError):
        run.poe.parallel(lambda: 1, return_exceptions=True, skip_exceptions=True)


def test_parallel_refuses_what_is_not_callable(run: Run) -> None:
    with pytest.raises(TypeError):
        run.poe.parallel(lambda: 1, 2)


def fail(message: str):
    def task() -> None:
        raise RuntimeError(message)

    return task


def test_parallel_raises_the_first_exception_after_all_tasks_end(run: Run) -> None:
    finished = []

    def late() -> str:
        time.sleep(0.05)
        finished.append(True)
        return "late"

    with pytest.raises(RuntimeError, match="first"):
        run.poe.parallel(late, fail("first"), fail("second"))
    assert finished == [True]


def test_parallel_can_return_exceptions(run: Run) -> None:
    ok, error = run.poe.parallel(lambda: "ok", fail("boom"), return_exceptions=True)
    assert ok == "ok" and isinstance(error, RuntimeError) and str(error) == "boom"


def test_parallel_can_skip_exceptions(run: Run) -> None:
    assert run.poe.parallel(fail("a"), lambda: 1, fail("b"), lambda: 2, skip_exceptions=True) == [
        1,
        2,
    ]


def test_parallel_passes_bot_errors_like_any_exception(make_run: MakeRun) -> None:
    run = make_run({"B": text_bot("fine")})
    results = run.poe.parallel(
        lambda: run.poe.call("B", "x").text,
        lambda: run.poe.call("Missing", "x"),
        return_exceptions=True,
    )
    assert results[0] == "fine" and isinstance(results[1], run.poe.BotError)


def test_repeat_calls_the_function_n_times_and_ignores_failures(run: Run) -> None:
    counter = iter(range(100))
    lock = threading.Lock()

    def sometimes() -> int:
        with lock:
            number = next(counter)
        if number % 2:
            raise RuntimeError("odd")
        return number

    assert sorted(run.poe.repeat(6, sometimes)) == [0, 2, 4]
    assert run.poe.repeat(0, sometimes) == []
    with pytest.raises(ValueError):
        run.poe.repeat(-1, sometimes)
    with pytest.raises(TypeError):
        run.poe.repeat("3", sometimes)


def test_nested_parallel_does_not_deadlock(run: Run) -> None:
    def inner() -> int:
        return sum(run.poe.parallel(*[lambda: 1] * 21))

    assert run.poe.parallel(*[inner] * 21) == [21] * 21


def test_tasks_see_the_callers_default_chat_and_keep_their_own(run: Run) -> None:
    poe = run.poe
    side = poe.Chat()

    def inherits() -> object:
        return poe.default_chat

    def replaces() -> object:
        with poe.Chat() as own:
            time.sleep(0.02)
            return poe.default_chat is own

    with side:
        seen, own_ok = poe.parallel(inherits, replaces)
    assert seen is side and own_ok is True
    assert poe.default_chat is not side


def test_21_threads_writing_one_message_keep_every_character(run: Run) -> None:
    msg = run.poe.start_message()
    letters = "abcdefghijklmnopqrstu"
    assert len(letters) == 21

    def writer(letter: str):
        def task() -> None:
            for _ in range(500):
                msg.write(letter)

        return task

    run.poe.parallel(*[writer(letter) for letter in letters])
    msg.finish()
    counts = collections.Counter(msg.text)
    assert counts == {letter: 500 for letter in letters}
    appended = "".join(e.text for e in run.events if isinstance(e, TextAppended))
    assert appended == msg.text  # events in the same total order as the writes
    assert run.port.texts() == [msg.text]


def test_21_threads_printing_keep_a_total_order(run: Run) -> None:
    def printer(number: int):
        def task() -> None:
            for line in range(40):
                run.print(f"{number}:{line}")

        return task

    run.poe.parallel(*[printer(n) for n in range(21)])
    events = run.events
    added = [e for e in events if isinstance(e, MessageAdded)]
    assert [e.msg_id for e in added] == list(range(21 * 40))
    for position, event in enumerate(events):  # each message finished right after it joins
        if isinstance(event, MessageAdded):
            assert events[position + 1] == MessageFinished(event.msg_id)
    texts = run.port.texts()
    for number in range(21):
        mine = [t for t in texts if t.startswith(f"{number}:")]
        assert mine == [f"{number}:{line}" for line in range(40)]  # each thread's own order


def test_parallel_bot_calls_stream_into_one_chat(make_run: MakeRun) -> None:
    run = make_run({f"Bot{n}": text_bot(*[f"{n}."] * 30) for n in range(21)}, max_bot_calls=21)
    chats = run.poe.parallel(
        *[
            (lambda n=n: run.poe.call(f"Bot{n}", "go", output=run.poe.default_chat))
            for n in range(21)
        ]
    )
    assert [c.last.text for c in chats] == [f"{n}." * 30 for n in range(21)]
    assert sorted(run.port.texts()) == sorted(f"{n}." * 30 for n in range(21))
    assert len(run.port.requests) == 21
