"""Attachments the service keeps for runs (SPEC §7), in the database so that any replica
serves any file; each creator's bytes bounded, every file in chunks (issue 11)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import cast

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from service.errors import FilesFull
from service.store.tables import Creator, File, FileChunk, utcnow

CHUNK_BYTES = 1024 * 1024  # what one row of file_chunks holds at most


def save_file(
    session: Session,
    *,
    file_id: str,
    run_id: uuid.UUID | None,
    creator_id: int,
    name: str,
    content_type: str,
    size: int,
    chunks: Iterable[bytes],
    max_creator_bytes: int,
) -> None:
    """Keep the ``size`` bytes of ``chunks`` (each at most CHUNK_BYTES), or raise FilesFull
    when the creator's files would pass the limit (before reading any)."""
    # The creator's row, locked (PostgreSQL; SQLite writers queue anyway): two saves of one
    # creator at once cannot both fit in what only one of them fits in.
    session.execute(select(Creator.id).where(Creator.id == creator_id).with_for_update())
    used = int(
        session.scalar(
            select(func.coalesce(func.sum(File.size), 0)).where(File.creator_id == creator_id)
        )
        or 0
    )
    if used + size > max_creator_bytes:
        raise FilesFull(name, size, used, max_creator_bytes)
    session.add(
        File(
            id=file_id,
            run_id=run_id,
            creator_id=creator_id,
            name=name,
            content_type=content_type,
            size=size,
            created_at=utcnow(),
        )
    )
    session.flush()
    written = 0
    for seq, data in enumerate(chunks):
        if len(data) > CHUNK_BYTES:
            raise ValueError("a file chunk is larger than CHUNK_BYTES")
        row = {"file_id": file_id, "seq": seq, "data": data}
        session.execute(cast(Table, FileChunk.__table__).insert(), row)
        written += len(data)
    if written != size:
        raise ValueError(f"the file has {written} bytes, not the {size} declared")


def load_file(session: Session, file_id: str) -> File | None:
    return session.get(File, file_id)


def load_chunk(session: Session, file_id: str, seq: int) -> bytes | None:
    """One piece of a file; None past its last."""
    data = session.scalar(
        select(FileChunk.data).where(FileChunk.file_id == file_id, FileChunk.seq == seq)
    )
    return None if data is None else bytes(data)
