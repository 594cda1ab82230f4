"""One page of rows and the count of all rows: the shape of every list the API answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class Listing:
    items: list[Any]
    total: int


def list_page(
    session: Session,
    table: type,
    where: ColumnElement[bool],
    order_by: tuple[Any, ...],
    limit: int,
    offset: int,
) -> Listing:
    """Rows of ``table`` matching ``where`` in ``order_by`` order, ``limit`` from ``offset``."""
    total = session.scalar(select(func.count()).select_from(table).where(where)) or 0
    query: Select[Any] = select(table).where(where).order_by(*order_by).limit(limit).offset(offset)
    return Listing(list(session.scalars(query).all()), total)
