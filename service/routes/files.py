"""/files/{id}: attachments the service kept for runs (SPEC §7). No authentication: the
unguessable id is the permission, as with Poe's own attachment URLs.

The bytes are read one chunk row at a time (``store/files.py``). A script chooses the
content type, so the answer is made harmless to this site's pages:
``nosniff``, and a sandboxing Content-Security-Policy (an HTML attachment opened here can
run no script and is not same-origin with the web pages).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Annotated
from urllib.parse import quote

import anyio.to_thread
from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import StreamingResponse

from service.errors import NotFound
from service.routes.deps import SessionDep
from service.routes.schemas import ErrorOut
from service.store.db import Database
from service.store.files import load_chunk, load_file

router = APIRouter(tags=["files"])
_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
# A media type that is safe to send as a header; anything else is served as bytes.
_MEDIA_TYPE = re.compile(r"[A-Za-z0-9][\w.+-]*/[A-Za-z0-9][\w.+-]*(\s*;\s*[\w.+-]+=[\w.+\"-]+)*")
FileId = Annotated[str, Path(max_length=64, description="The attachment's id, from its URL.")]


@router.get(
    "/files/{file_id}",
    response_class=Response,
    responses={200: {"content": {"*/*": {}}}, 404: {"model": ErrorOut}},
)
def get_file(file_id: FileId, session: SessionDep, request: Request) -> Response:
    """An attachment, with the content type it was stored with, streamed chunk by chunk."""
    found = load_file(session, file_id) if _ID.fullmatch(file_id) else None
    if found is None:
        raise NotFound("There is no such file.")
    media_type = found.content_type
    if not _MEDIA_TYPE.fullmatch(media_type):
        media_type = "application/octet-stream"
    return StreamingResponse(
        _chunks(request.app.state.db, file_id),
        media_type=media_type,
        headers={
            "Content-Length": str(found.size),
            "Content-Disposition": f"inline; filename*=UTF-8''{quote(found.name, safe='')}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
            "Cache-Control": "private, max-age=86400",
        },
    )


async def _chunks(db: Database, file_id: str) -> AsyncIterator[bytes]:
    """The file's rows one at a time, each read in a worker thread in a short transaction
    of its own: a large file costs the server a chunk of memory, not its size (issue 11)."""

    def read(seq: int) -> bytes | None:
        with db.transaction() as session:
            return load_chunk(session, file_id, seq)

    seq = 0
    while (data := await anyio.to_thread.run_sync(read, seq)) is not None:
        yield data
        seq += 1
