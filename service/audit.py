"""The audit log: what a creator did, or what was done to their account, kept in the database
in the same transaction as the action itself (so a rolled-back action leaves no entry).

Read by its creator at ``GET /api/v1/audit`` and by the operator with ``scriptbots audit``.
An entry names the action and its subject (a script name, a token id, a secret's key) and a
small ``detail``; never a secret, a source, a token or a password.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import Session

from service.store.listing import Listing, list_page
from service.store.tables import AuditEvent, Creator

# Every action recorded, one word each (README: Audit).
ACTIONS = (
    "creator.created",
    "password.changed",
    "login.failed",
    "token.created",
    "token.revoked",
    "script.created",
    "script.changed",
    "script.restored",
    "script.deleted",
    "secret.set",
    "secret.removed",
)
SUBJECT_MAX = 100


def record(
    session: Session,
    creator_id: int,
    action: str,
    subject: str | int | None = None,
    *,
    address: str | None = None,
    **detail: Any,
) -> None:
    """Add one entry to the current transaction."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    session.add(
        AuditEvent(
            creator_id=creator_id,
            action=action,
            subject=None if subject is None else str(subject)[:SUBJECT_MAX],
            detail=detail,
            address=None if address is None else address[:64],
        )
    )


def page_audit(session: Session, creator_id: int, limit: int, offset: int) -> Listing:
    """One page of the creator's entries, newest first."""
    where = AuditEvent.creator_id == creator_id
    order = (AuditEvent.at.desc(), AuditEvent.id.desc())
    return list_page(session, AuditEvent, where, order, limit, offset)


@dataclass(frozen=True)
class AuditLine:
    """An entry with its creator's name, for the operator."""

    id: int
    at: datetime
    creator: str
    action: str
    subject: str | None
    address: str | None
    detail: dict[str, Any]


def operator_audit(
    session: Session,
    *,
    creator_id: int | None = None,
    action: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> list[AuditLine]:
    """The newest ``limit`` entries of every creator (or one), oldest of them first."""
    where: ColumnElement[bool] = true()
    if creator_id is not None:
        where &= AuditEvent.creator_id == creator_id
    if action is not None:
        where &= AuditEvent.action == action
    if since is not None:
        where &= AuditEvent.at >= since
    rows = session.execute(
        select(AuditEvent, Creator.name)
        .join(Creator, Creator.id == AuditEvent.creator_id)
        .where(where)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(limit)
    ).all()
    return [
        AuditLine(e.id, e.at, name, e.action, e.subject, e.address, dict(e.detail))
        for e, name in reversed(rows)
    ]
