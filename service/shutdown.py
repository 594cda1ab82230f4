"""Graceful shutdown: on SIGTERM the runs in progress may finish, the rest end properly.

Uvicorn, on SIGTERM, closes its listening sockets and asks every connection to close once
its response is over, then waits for them (``cli.py`` gives it ``grace_s`` plus a margin).
Meanwhile this refuses new queries (503, ``ServiceBusy``) and gives the runs in progress
``SHUTDOWN_GRACE_S``; then every run still going is stopped through ``stop``, a future that
each run's supervisor watches: its child is killed and its stream ends with an ``error``
event (``RESTARTING``) and ``done`` (SPEC §7, §10), recorded ``killed`` with that reason.

A stream still open ``BACKSTOP_S`` after the grace (its run stuck past its own end) is
cut by ``streams_cut`` (``routes/sse.py``); uvicorn's own timeout comes after that.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from types import FrameType
from typing import Any

from sandbox import RunEnd

logger = logging.getLogger(__name__)

RESTARTING = "The server is restarting; try again."
SIGNALS = (signal.SIGTERM, signal.SIGINT)
BACKSTOP_S = 10.0  # after the grace: the streams that have not ended by then are cut


class Shutdown:
    """This process's drain; ``install()`` in the app's lifespan (under uvicorn), ``uninstall()``
    at its end. Without a signal handler to chain (tests in-process), it never begins."""

    def __init__(self, grace_s: float) -> None:
        self.grace_s = grace_s
        self.draining = False
        self._stop: asyncio.Future[RunEnd] | None = None
        self._cut: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous: dict[int, Any] = {}

    @property
    def stop(self) -> asyncio.Future[RunEnd]:
        """Resolves with the end of every run still going when the grace is over."""
        if self._stop is None:
            self._stop = asyncio.get_running_loop().create_future()
        return self._stop

    @property
    def streams_cut(self) -> asyncio.Future[None]:
        """Resolves ``BACKSTOP_S`` after the grace: every stream still open is cut then."""
        if self._cut is None:
            self._cut = asyncio.get_running_loop().create_future()
        return self._cut

    def install(self) -> None:
        """Chain this process's SIGTERM and SIGINT handlers (uvicorn's) with ``begin``."""
        if threading.current_thread() is not threading.main_thread():
            return
        self._loop = asyncio.get_running_loop()
        for sig in SIGNALS:
            previous = signal.getsignal(sig)
            if not callable(previous) or previous is signal.default_int_handler:
                continue  # no server's handler to chain: leave the signal alone
            self._previous[sig] = previous
            signal.signal(sig, self._on_signal)

    def uninstall(self) -> None:
        for sig, previous in self._previous.items():
            if signal.getsignal(sig) == self._on_signal:
                signal.signal(sig, previous)
        self._previous.clear()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self.begin)
        self._previous[signum](signum, frame)

    def begin(self) -> None:
        """Stop taking queries; stop the runs still going after the grace."""
        if self.draining:
            return
        self.draining = True
        logger.warning("shutting down: runs may finish", extra={"grace_s": self.grace_s})
        loop = asyncio.get_running_loop()
        loop.call_later(self.grace_s, self._expire)
        loop.call_later(self.grace_s + BACKSTOP_S, self._backstop)

    def _expire(self) -> None:
        if not self.stop.done():
            self.stop.set_result(RunEnd("killed", RESTARTING))

    def _backstop(self) -> None:
        if not self.streams_cut.done():
            self.streams_cut.set_result(None)
