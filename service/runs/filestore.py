"""The service's ``AttachmentStore``: attachments of one run kept in the database.

The store is synchronous; each call runs in a worker thread so that the event loop, which
streams every other run, never waits on the database.
"""

from __future__ import annotations

import uuid

import anyio.to_thread

from sandbox import Spool
from service.errors import FilesFull
from service.runs.attachments import AttachmentError, StoredAttachment, new_attachment_id
from service.store.db import Database
from service.store.files import CHUNK_BYTES, load_chunk, load_file, save_file

MAX_CREATOR_BYTES = 1024 * 1024 * 1024  # SCRIPTBOTS_CREATOR_MAX_FILES_MB's default


class DatabaseAttachmentStore:
    """Saves under a new unguessable id, linked to ``run_id`` (deleted with the run) and
    counted against ``creator_id``'s ``max_creator_bytes``."""

    def __init__(
        self,
        db: Database,
        run_id: uuid.UUID | None,
        *,
        creator_id: int,
        max_creator_bytes: int = MAX_CREATOR_BYTES,
    ) -> None:
        self._db = db
        self._run_id = run_id
        self._creator_id = creator_id
        self._max_creator_bytes = max_creator_bytes

    async def save(self, name: str, content_type: str, contents: Spool) -> str:
        file_id = new_attachment_id()

        def write() -> None:
            with self._db.transaction() as session:
                save_file(
                    session,
                    file_id=file_id,
                    run_id=self._run_id,
                    creator_id=self._creator_id,
                    name=name,
                    content_type=content_type,
                    size=contents.size,
                    chunks=contents.chunks(CHUNK_BYTES),  # read from the spool as written
                    max_creator_bytes=self._max_creator_bytes,
                )

        try:
            await anyio.to_thread.run_sync(write)
        except FilesFull as exc:
            raise AttachmentError(str(exc)) from exc
        return file_id

    async def load(self, attachment_id: str) -> StoredAttachment | None:
        def read() -> StoredAttachment | None:
            with self._db.transaction() as session:
                found = load_file(session, attachment_id)
                if found is None:
                    return None
                chunks: list[bytes] = []
                while (chunk := load_chunk(session, attachment_id, len(chunks))) is not None:
                    chunks.append(chunk)
                return StoredAttachment(found.name, found.content_type, b"".join(chunks))

        return await anyio.to_thread.run_sync(read)
