"""Attachment bytes between the host and a child, in pieces: the host never holds one whole.

Fetch: ``RunServices.fetch`` yields the body as it arrives; each piece goes to the child in
FetchChunks of at most ``TRANSFER_CHUNK_BYTES``, then a FetchResult ends it. The channel's
drain makes a child that does not read hold the fetch up, not fill the host's memory.

Upload: an UploadRequest declares the size; UploadChunks bring it, and the host spools them
(``spool.py``: a megabyte in memory, the rest on disk) until all have come, then hands the
spool to ``RunServices.upload``. More bytes than declared, a chunk of no upload, or a second
upload under one id is the child breaking the protocol (ProtocolError: the run ends).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sandbox.errors import BotCallRefused
from sandbox.protocol import (
    TRANSFER_CHUNK_BYTES,
    AttachmentInfo,
    FetchChunk,
    FetchRequest,
    FetchResult,
    ProtocolError,
    UploadChunk,
    UploadRequest,
    UploadResult,
)
from sandbox.services import RunServices
from sandbox.spool import Spool

logger = logging.getLogger(__name__)

# SPEC §7/§8: an attachment is at most 50 MB. The service checks its own limit again; this
# one keeps a child from making the host spool more than that for it.
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
Reply = Callable[[FetchChunk | FetchResult | UploadResult], Awaitable[None]]


@dataclass
class _Upload:
    request: UploadRequest
    spool: Spool | None  # None: too large, its chunks are read and dropped
    received: int = 0
    done: bool = False


class Transfers:
    """One run's fetches and uploads. ``stored(info)`` hears of each attachment stored, whose
    URL the run may then show."""

    def __init__(
        self,
        services: RunServices,
        reply: Reply,
        run_over: Callable[[], bool],
        stored: Callable[[AttachmentInfo], None],
    ) -> None:
        self._services = services
        self._reply = reply
        self._run_over = run_over
        self._stored = stored
        self._uploads: dict[int, _Upload] = {}

    # -- fetch ----------------------------------------------------------------------------

    async def fetch(self, request: FetchRequest) -> None:
        result = FetchResult(request.request_id)
        parts: Any = None
        try:
            parts = self._services.fetch(request.url)
            async for part in parts:
                view = memoryview(part)
                for start in range(0, len(part), TRANSFER_CHUNK_BYTES):
                    data = bytes(view[start : start + TRANSFER_CHUNK_BYTES])
                    await self._reply(FetchChunk(request.request_id, data))
        except asyncio.CancelledError:
            if self._run_over():
                raise  # nobody to answer
            result = FetchResult(request.request_id, error="The fetch was cancelled.")
        except BotCallRefused as exc:
            result = FetchResult(request.request_id, error=exc.message)
        except Exception:  # a fault of the service, not of the script: log it, tell the script
            logger.exception("attachment fetch failed in the service")
            result = FetchResult(request.request_id, error="The attachment could not be fetched.")
        finally:
            aclose = getattr(parts, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
        await self._reply(result)

    # -- upload ---------------------------------------------------------------------------

    def begin_upload(self, request: UploadRequest) -> bool:
        """Start receiving ``request``'s bytes; True when it needs none (empty)."""
        if request.request_id in self._uploads or request.size < 0:
            raise ProtocolError("UploadRequest id reused, or a negative size")
        spool = Spool() if request.size <= MAX_UPLOAD_BYTES else None
        self._uploads[request.request_id] = _Upload(request, spool)
        return request.size == 0

    def add_chunk(self, chunk: UploadChunk) -> UploadRequest | None:
        """Take one piece; the upload's request once its last byte has come."""
        upload = self._uploads.get(chunk.request_id)
        if upload is None or upload.done:
            raise ProtocolError("UploadChunk of no upload in progress")
        upload.received += len(chunk.data)
        if upload.received > upload.request.size:
            raise ProtocolError("UploadChunks beyond the size the UploadRequest declared")
        if upload.spool is not None:
            upload.spool.write(chunk.data)
        if upload.received < upload.request.size:
            return None
        upload.done = True
        return upload.request

    async def upload(self, request: UploadRequest) -> None:
        """Hand a complete upload to the service and answer the child."""
        upload = self._uploads.pop(request.request_id)
        request_id = request.request_id
        try:
            if upload.spool is None:
                result = UploadResult(
                    request_id,
                    error=f"The attachment {request.name!r} is {request.size} bytes; "
                    f"the limit is {MAX_UPLOAD_BYTES} bytes.",
                )
            else:
                info = await self._services.upload(
                    request.name, upload.spool, request.content_type, request.is_inline
                )
                self._stored(info)
                result = UploadResult(request_id, attachment=info)
        except BotCallRefused as exc:
            result = UploadResult(request_id, error=exc.message)
        except Exception:
            logger.exception("attachment upload failed in the service")
            result = UploadResult(request_id, error="The attachment could not be stored.")
        finally:
            if upload.spool is not None:
                upload.spool.close()
        await self._reply(result)

    def close(self) -> None:
        """The run is over: drop what unfinished uploads spooled."""
        for upload in self._uploads.values():
            if upload.spool is not None:
                upload.spool.close()
        self._uploads.clear()
