"""Attachments the service keeps for runs (SPEC §7), in the database so that any replica
serves any file; each creator's bytes bounded (issue 11)."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.errors import FilesFull
from service.store.tables import Creator, File, utcnow


def save_file(
    session: Session,
    *,
    file_id: str,
    run_id: uuid.UUID | None,
    creator_id: int,
    name: str,
    content_type: str,
    data: bytes,
    max_creator_bytes: int,
) -> None:
    """Keep ``data``, or raise FilesFull when the creator's files would pass the limit."""
    # The creator's row, locked (PostgreSQL; SQLite writers queue anyway): two saves of one
    # creator at once cannot both fit in what only one of them fits in.
    session.execute(select(Creator.id).where(Creator.id == creator_id).with_for_update())
    used = session.scalar(
        select(func.coalesce(func.sum(File.size), 0)).where(File.creator_id == creator_id)
    )
    if int(used or 0) + len(data) > max_creator_bytes:
        raise FilesFull(name, len(data), int(used or 0), max_creator_bytes)
    session.add(
        File(
            id=file_id,
            run_id=run_id,
            creator_id=creator_id,
            name=name,
            content_type=content_type,
            size=len(data),
            data=data,
            created_at=utcnow(),
        )
    )
    session.flush()


def load_file(session: Session, file_id: str) -> File | None:
    return session.get(File, file_id)
