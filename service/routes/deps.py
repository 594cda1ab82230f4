"""Dependencies of the routes, as ``Annotated`` aliases: settings, session, creator, paging.

Everything comes from ``request.app.state``, filled by the lifespan in ``app.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

import anyio.to_thread
from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from service.errors import Unauthorized
from service.runs.orchestrator import Orchestrator
from service.security import AccessKeyCipher
from service.settings import Settings
from service.store.creators import creator_for_token
from service.store.db import Database
from service.store.tables import Creator

MAX_PAGE = 200

# The app's objects, as dependencies. ``async``: FastAPI runs a plain function dependency in a
# worker thread, a hop to a thread and back on every request for an attribute read. Starlette's
# app.state is untyped: each return type says what create_app put there.


async def _settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def _database(request: Request) -> Database:
    return request.app.state.db  # type: ignore[no-any-return]


async def _cipher(request: Request) -> AccessKeyCipher:
    return request.app.state.cipher  # type: ignore[no-any-return]


async def _orchestrator(request: Request) -> Orchestrator:
    return request.app.state.orchestrator  # type: ignore[no-any-return]


def _session(database: Annotated[Database, Depends(_database)]) -> Iterator[Session]:
    # One transaction per request, committed before the response is sent (scope below),
    # rolled back when the route raises: a failed request changes nothing.
    with database.transaction() as session:
        yield session


READ_AFTER_RUN_WAIT_S = 5.0


async def runs_recorded(request: Request) -> None:
    """Before a route that reads runs opens its transaction: the records this replica is
    still writing (after their responses) are in. Put it in the route's ``dependencies``,
    which FastAPI resolves before the parameters' (the session among them)."""
    orchestrator: Orchestrator = request.app.state.orchestrator
    await orchestrator.recorded(READ_AFTER_RUN_WAIT_S)


RunsRecorded = Depends(runs_recorded)
SettingsDep = Annotated[Settings, Depends(_settings)]
DatabaseDep = Annotated[Database, Depends(_database)]
CipherDep = Annotated[AccessKeyCipher, Depends(_cipher)]
SessionDep = Annotated[Session, Depends(_session, scope="function")]
OrchestratorDep = Annotated[Orchestrator, Depends(_orchestrator)]

_bearer = HTTPBearer(auto_error=False, description="An API token of the creator.")


def _current_creator(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Creator:
    if credentials is None:
        raise Unauthorized("Send an API token as 'Authorization: Bearer <token>'.")
    creator = creator_for_token(session, credentials.credentials)
    if creator is None:
        raise Unauthorized("The API token is unknown or revoked.")
    return creator


CurrentCreator = Annotated[Creator, Depends(_current_creator)]


async def _current_creator_id(
    database: DatabaseDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> int:
    # Its own transaction, committed before the route runs: an async route that then does
    # database work in threads must not wait behind a transaction its own request holds
    # (SQLite's BEGIN IMMEDIATE takes the write lock).
    if credentials is None:
        raise Unauthorized("Send an API token as 'Authorization: Bearer <token>'.")
    token = credentials.credentials

    def check() -> int | None:
        with database.transaction() as session:
            creator = creator_for_token(session, token)
            return None if creator is None else creator.id

    creator_id = await anyio.to_thread.run_sync(check)
    if creator_id is None:
        raise Unauthorized("The API token is unknown or revoked.")
    return creator_id


CurrentCreatorId = Annotated[int, Depends(_current_creator_id)]


@dataclass(frozen=True)
class Pagination:
    """``?limit=&offset=``; lists answer ``{"items", "total", "limit", "offset"}``."""

    limit: int
    offset: int


async def _pagination(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Items per page.")] = 50,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1, description="Items to skip.")] = 0,
) -> Pagination:
    return Pagination(limit, offset)


PaginationDep = Annotated[Pagination, Depends(_pagination)]
