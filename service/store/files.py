"""Attachments the service keeps for runs (SPEC §7), in the database so that any replica
serves any file."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from service.store.tables import File, utcnow


def save_file(
    session: Session,
    *,
    file_id: str,
    run_id: uuid.UUID | None,
    name: str,
    content_type: str,
    data: bytes,
) -> None:
    session.add(
        File(
            id=file_id,
            run_id=run_id,
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
