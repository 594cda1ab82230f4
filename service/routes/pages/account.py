"""The Account page: password change and the creator's API tokens (list, new, revoke).

A password change needs the current password, counts against the same login limits as a
login (a stolen session cannot guess it), and ends every other session of the creator; the
changing one carries on under the new session version. A new token is shown on the page
that answers its form, once: never put in the session cookie, which is signed, not secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from service.errors import LoginThrottled, NotFound, WeakPassword
from service.passwords import MAX_PASSWORD_CHARS, check_password
from service.routes.deps import SessionDep
from service.routes.pages.auth import (
    THROTTLED,
    client_address,
    field_of,
    in_transaction,
    passwords_of,
)
from service.routes.pages.deps import CheckedForm, SignedIn, SignedInId, WebSessionDep, mark_page
from service.routes.pages.rendering import page, redirect
from service.store.creators import (
    change_password,
    issue_api_token,
    list_api_tokens,
    revoke_api_token_id,
)
from service.store.login_throttles import (
    account_key,
    address_key,
    attempt_failed,
    attempt_succeeded,
    reserve_attempt,
)
from service.store.tables import Creator

LABEL_MAX = 100
WRONG_CURRENT = "That is not your current password."

router = APIRouter(dependencies=[Depends(mark_page)], include_in_schema=False)
TokenId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@dataclass(frozen=True)
class _Holder:
    name: str
    name_key: str
    password_hash: str | None


def _holder(session: Session, creator_id: int) -> _Holder:
    creator = session.get(Creator, creator_id)
    if creator is None:
        raise NotFound("There is no such creator.")
    return _Holder(creator.name, creator.name_key, creator.password_hash)


def _account_page(
    request: Request,
    session: Session,
    creator_id: int,
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    new_token: str | None = None,
    label: str = "",
) -> Response:
    return page(
        request,
        "account.html",
        status_code=status_code,
        tokens=list_api_tokens(session, creator_id),
        errors=errors or {},
        new_token=new_token,
        label=label,
    )


@router.get("/account")
def account(request: Request, creator: SignedIn, session: SessionDep) -> Response:
    return _account_page(request, session, creator.id)


@router.post("/account/password")
async def password(
    request: Request,
    creator_id: SignedInId,
    form: CheckedForm,
    web: WebSessionDep,
) -> Response:
    current, new = field_of(form, "current_password"), field_of(form, "new_password")
    holder = await in_transaction(request, _holder, creator_id)
    errors: dict[str, str] = {}
    try:
        check_password(new, name=holder.name)
    except WeakPassword as exc:
        errors["new_password"] = str(exc)
    if not errors and new != field_of(form, "new_password_again"):
        errors["new_password_again"] = "The two new passwords differ."
    if not errors:
        keys = [account_key(holder.name_key), address_key(client_address(request))]
        wait_s = await in_transaction(request, reserve_attempt, keys)
        if wait_s is not None:
            raise LoginThrottled(THROTTLED.format(seconds=wait_s), wait_s)
        matches = False
        if holder.password_hash and current and len(current) <= MAX_PASSWORD_CHARS:
            matches = await passwords_of(request).verify(holder.password_hash, current)
        if not matches:
            errors["current_password"] = WRONG_CURRENT
            await in_transaction(request, attempt_failed, keys)
        else:
            await in_transaction(request, attempt_succeeded, keys[0], keys[1:])
    if errors:
        return await in_transaction(
            request,
            lambda session: _account_page(
                request, session, creator_id, status_code=400, errors=errors
            ),
        )
    password_hash = await passwords_of(request).hash(new)
    version = await in_transaction(request, change_password, creator_id, web.version, password_hash)
    if version is None:  # this session was ended meanwhile (a logout elsewhere)
        web.log_out()
        return redirect(request, "/login", notice="Your session had ended; log in again.")
    web.log_in(creator_id, version)
    return redirect(
        request, "/account", notice="Password changed. Every other session is logged out."
    )


@router.post("/account/tokens")
def new_token(
    request: Request, creator: SignedIn, form: CheckedForm, session: SessionDep
) -> Response:
    label = field_of(form, "label").strip()
    if len(label) > LABEL_MAX or any(ord(ch) < 32 or ord(ch) == 127 for ch in label):
        errors = {"label": f"Use at most {LABEL_MAX} characters, on one line."}
        return _account_page(request, session, creator.id, status_code=400, errors=errors)
    _, token = issue_api_token(session, creator.id, label or None)
    return _account_page(request, session, creator.id, new_token=token, label=label)


@router.post("/account/tokens/{token_id}/revoke")
def revoke_token(
    request: Request, token_id: TokenId, creator: SignedIn, form: CheckedForm, session: SessionDep
) -> Response:
    if not revoke_api_token_id(session, token_id, creator.id):
        raise NotFound(f"You have no API token with id {token_id}.")
    return redirect(request, "/account", notice=f"API token {token_id} revoked.")
