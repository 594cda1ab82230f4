"""``poe.parallel`` and ``poe.repeat`` on one pool of 21 threads per run.

The caller runs tasks that no pool thread has picked up yet, so a task that itself calls
``poe.parallel`` never waits for threads that are all busy waiting: nesting cannot
deadlock, and the run never holds more than 21 pool threads.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

POOL_THREADS = 21  # the reference's documented pool size


class _Job:
    """One task, run exactly once by whichever thread claims it first."""

    __slots__ = ("claimed", "context", "done", "error", "lock", "result", "task")

    def __init__(self, task: Callable[[], Any]) -> None:
        self.task = task
        self.context = contextvars.copy_context()  # the caller's default_chat and query
        self.lock = threading.Lock()
        self.claimed = False
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None

    def run_if_unclaimed(self) -> None:
        with self.lock:
            if self.claimed:
                return
            self.claimed = True
        try:
            self.result = self.context.run(self.task)
        except BaseException as exc:  # handed to the caller, who decides (return/skip/raise)
            self.error = exc
        finally:
            self.done.set()


class Pool:
    """A lazily started pool of POOL_THREADS threads, shut down at the end of the run."""

    def __init__(self, size: int = POOL_THREADS) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._closed = False

    def run(self, tasks: list[Callable[[], Any]]) -> list[tuple[Any, BaseException | None]]:
        """Run every task; (result, exception) per task, in the tasks' order."""
        jobs = [_Job(task) for task in tasks]
        executor = self._get_executor()
        for job in jobs[1:]:
            executor.submit(job.run_if_unclaimed)
        for job in jobs:  # the caller takes whatever the pool has not started
            job.run_if_unclaimed()
        for job in jobs:
            job.done.wait()
        return [(job.result, job.error) for job in jobs]

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    def _get_executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._closed:
                raise RuntimeError("the run has ended; poe.parallel is no longer available")
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self._size, thread_name_prefix="poe-parallel")
            return self._executor


def parallel(
    pool: Pool,
    tasks: tuple[Callable[[], Any], ...],
    *,
    return_exceptions: bool = False,
    skip_exceptions: bool = False,
) -> list[Any]:
    if return_exceptions and skip_exceptions:
        raise ValueError("Only one of return_exceptions and skip_exceptions can be True")
    for task in tasks:
        if not callable(task):
            raise TypeError(f"poe.parallel expects functions, not {type(task).__name__}")
    results: list[Any] = []
    first_error: BaseException | None = None
    for result, error in pool.run(list(tasks)):
        if error is None:
            results.append(result)
        elif not isinstance(error, Exception):
            raise error  # SystemExit and friends are never values
        elif return_exceptions:
            results.append(error)
        elif not skip_exceptions and first_error is None:
            first_error = error
    if first_error is not None:
        raise first_error
    return results


def repeat(pool: Pool, n: int, func: Callable[[], Any]) -> list[Any]:
    """``func`` n times in parallel; failures are left out."""
    if not isinstance(n, int) or isinstance(n, bool):
        raise TypeError("poe.repeat expects an int count")
    if n < 0:
        raise ValueError("poe.repeat count must not be negative")
    return parallel(pool, (func,) * n, skip_exceptions=True)
