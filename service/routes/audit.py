"""GET /api/v1/audit: the calling creator's audit log, newest first (``service/audit.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from service.audit import page_audit
from service.routes.deps import CurrentCreator, PaginationDep, SessionDep
from service.routes.schemas import ErrorOut, Page
from service.store.tables import AuditEvent

router = APIRouter(
    prefix="/api/v1/audit",
    tags=["audit"],
    responses={401: {"model": ErrorOut, "description": "No, an unknown or a revoked API token."}},
)


class AuditOut(BaseModel):
    id: int
    at: datetime
    action: str = Field(description="script.created, token.revoked, login.failed, ...")
    subject: str | None = Field(description="What it was done to: a script name, a token id.")
    address: str | None = Field(description="The client's address, where it is recorded.")
    detail: dict[str, Any]


def _out(event: AuditEvent) -> AuditOut:
    return AuditOut(
        id=event.id,
        at=event.at,
        action=event.action,
        subject=event.subject,
        address=event.address,
        detail=event.detail,
    )


@router.get("")
def list_audit(creator: CurrentCreator, session: SessionDep, page: PaginationDep) -> Page[AuditOut]:
    """What you did, and what was done to your account (failed logins), newest first."""
    found = page_audit(session, creator.id, page.limit, page.offset)
    return Page.of(found, page.limit, page.offset, _out)
