"""Compiled scripts, kept by the host per source: a script's version compiles once, not on
every run (a 100 KB source took hundreds of milliseconds in each child; issue 15).

The first run of a source compiles it in its child as always, while the host compiles it
beside (in a worker thread, with the same restricted compiler); later runs of the same
source get the marshalled code in their ``RunStart`` and skip the compiler. The key is the
source text itself, so a new version (a new source) is a new entry and the old one ages out;
a source the compiler refuses is remembered as such, and its runs go on compiling (and
reporting the problem) in the child. Only the host compiles what a child receives: nothing
a child sends back is ever cached. The cache lives in the host, never in the template,
whose memory every child of every creator inherits.
"""

from __future__ import annotations

import asyncio
import logging
import marshal
from collections import OrderedDict

from sandbox.policy import SourceRejected, compile_script

logger = logging.getLogger(__name__)

MAX_BYTES = 256 * 1024 * 1024  # sources and their code, together
_REFUSED = b""


class CompiledSources:
    """Marshalled code by source, least recently used first out past ``max_bytes``."""

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self._max_bytes = max_bytes
        self._code: OrderedDict[str, bytes] = OrderedDict()
        self._bytes = 0
        self._compiling: dict[str, asyncio.Task[None]] = {}

    def __len__(self) -> int:
        return len(self._code)

    def code_for(self, source: str) -> bytes | None:
        """The code of ``source`` when it is compiled already; else None, and it is being
        compiled for the next run (call on the event loop)."""
        code = self._code.get(source)
        if code is not None:
            self._code.move_to_end(source)
            return code or None
        if source not in self._compiling:
            task = asyncio.get_running_loop().create_task(self._compile(source))
            self._compiling[source] = task
            task.add_done_callback(lambda _: self._compiling.pop(source, None))
        return None

    async def compiled(self, source: str) -> bytes | None:
        """``code_for``, waiting for the compiler if need be (for tests and benchmarks)."""
        code = self.code_for(source)
        task = self._compiling.get(source)
        if code is None and task is not None:
            await asyncio.wait({task})
            code = self._code.get(source) or None
        return code

    async def _compile(self, source: str) -> None:
        try:
            code = await asyncio.to_thread(_marshalled, source)
        except Exception:  # the child compiles it as before; nothing is lost
            logger.exception("compiling a script for the cache failed")
            return
        self._store(source, code)

    def _store(self, source: str, code: bytes) -> None:
        size = len(source) + len(code)
        if size > self._max_bytes:
            return
        self._code[source] = code
        self._bytes += size
        while self._bytes > self._max_bytes:
            old, old_code = self._code.popitem(last=False)
            self._bytes -= len(old) + len(old_code)


def _marshalled(source: str) -> bytes:
    try:
        return marshal.dumps(compile_script(source))
    except SourceRejected:
        return _REFUSED
