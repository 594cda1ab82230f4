"""The host's half of a script's HTTP requests: RunServices.http's answer, relayed to the child.

Each request is one task of the run's supervisor. The head goes to the child at once; the
body in ``HTTP_CHUNK_BYTES`` pieces, at most ``HTTP_WINDOW`` of them ahead of what the script
has read (the child acknowledges each with ``HttpRead``): a script reading a stream slowly
makes the service read its upstream slowly, and neither holds the body whole. At most
``MAX_ACTIVE`` requests of a run are performed at once; the others wait their turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sandbox.errors import HttpRefused
from sandbox.protocol import (
    HTTP_CHUNK_BYTES,
    HTTP_WINDOW,
    HttpChunk,
    HttpEnd,
    HttpHead,
    HttpRequest,
    is_http_failure,
)
from sandbox.services import RunServices

logger = logging.getLogger(__name__)

MAX_ACTIVE = 32  # upstream connections of one run at once
Reply = Callable[[HttpHead | HttpChunk | HttpEnd], Awaitable[None]]


class _Credits:
    """Chunks the child may still be sent; never more than the window, whatever it claims."""

    def __init__(self) -> None:
        self._left = HTTP_WINDOW
        self._more = asyncio.Event()

    def give(self) -> None:
        self._left = min(self._left + 1, HTTP_WINDOW)
        self._more.set()

    async def take(self) -> None:
        while self._left <= 0:
            self._more.clear()
            await self._more.wait()
        self._left -= 1


class HttpRelay:
    def __init__(self, services: RunServices, reply: Reply, run_over: Callable[[], bool]) -> None:
        self._services = services
        self._reply = reply
        self._run_over = run_over
        self._credits: dict[int, _Credits] = {}
        self._active = asyncio.Semaphore(MAX_ACTIVE)

    def read(self, request_id: int) -> None:
        """The child consumed a chunk of ``request_id`` (a late one, after its end, is moot)."""
        credits = self._credits.get(request_id)
        if credits is not None:
            credits.give()

    async def serve(self, request: HttpRequest) -> None:
        request_id = request.request_id
        credits = self._credits[request_id] = _Credits()
        end = HttpEnd(request_id)
        parts: Any = None
        acquired = False
        try:
            await self._active.acquire()
            acquired = True
            parts = self._services.http(request)
            async for part in parts:
                if isinstance(part, HttpHead):
                    await self._reply(dataclasses.replace(part, request_id=request_id))
                    continue
                for start in range(0, len(part), HTTP_CHUNK_BYTES):
                    await credits.take()
                    await self._reply(HttpChunk(request_id, part[start : start + HTTP_CHUNK_BYTES]))
        except asyncio.CancelledError:
            if self._run_over():
                raise  # nobody to answer
            end = HttpEnd(request_id, "The request was cancelled.", "failed")
        except HttpRefused as exc:
            failure = exc.failure if is_http_failure(exc.failure) else "failed"
            end = HttpEnd(request_id, exc.message, failure)
        except Exception:  # a fault of the service, not of the script: log it, tell the script
            logger.exception("a script's HTTP request failed in the service")
            end = HttpEnd(request_id, "The request failed in the service.", "failed")
        finally:
            self._credits.pop(request_id, None)
            aclose = getattr(parts, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
            if acquired:
                self._active.release()
        await self._reply(end)
