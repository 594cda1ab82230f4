"""/api/v1/tokens: the calling creator's API tokens: list, create (shown once), revoke.

A token is stored only as its hash, so the list can say when it was made and last used,
never what it is. Another creator's token answers 404, like every object that is not yours.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response, status

from service.errors import NotFound
from service.routes.deps import CurrentCreator, PaginationDep, SessionDep
from service.routes.schemas import ErrorOut, Page, TokenCreate, TokenCreated, TokenOut
from service.store.creators import issue_api_token, page_api_tokens, revoke_api_token_id
from service.store.tables import ApiToken

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "No, an unknown or a revoked API token."},
}

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"], responses=_ERRORS)
TokenIdPath = Annotated[int, Path(ge=1, le=2**63 - 1, description="A token's id.")]


def token_out(token: ApiToken) -> TokenOut:
    return TokenOut(
        id=token.id,
        label=token.label,
        created_at=token.created_at,
        last_used_at=token.last_used_at,
    )


@router.get("")
def list_tokens(
    creator: CurrentCreator, session: SessionDep, page: PaginationDep
) -> Page[TokenOut]:
    """Your unrevoked API tokens, newest first."""
    found = page_api_tokens(session, creator.id, page.limit, page.offset)
    return Page.of(found, page.limit, page.offset, token_out)


@router.post("", status_code=status.HTTP_201_CREATED)
def create_token(
    creator: CurrentCreator, session: SessionDep, body: TokenCreate | None = None
) -> TokenCreated:
    """A new API token: the answer is the only time it is shown."""
    token_id, token = issue_api_token(session, creator.id, body.label if body else None)
    return TokenCreated(id=token_id, token=token)


@router.delete(
    "/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: {"model": ErrorOut, "description": "No such token (or not yours)."}},
)
def revoke_token(token_id: TokenIdPath, creator: CurrentCreator, session: SessionDep) -> Response:
    """Revoke one of your tokens; requests with it answer 401 from now on (this one's own
    token included)."""
    if not revoke_api_token_id(session, token_id, creator.id):
        raise NotFound(f"You have no API token with id {token_id}.")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
