"""Creators and their API tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import Connection, CursorResult, Table, Update, bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service import audit
from service.errors import NameTaken, NotFound
from service.names import check_name, name_key
from service.security import hash_api_token, new_api_token
from service.store.listing import Listing, list_page
from service.store.tables import ApiToken, Creator, utcnow

# last_used_at is refreshed at most this often, so reads do not each cost a write.
LAST_USED_GRANULARITY = timedelta(minutes=1)


def create_creator(session: Session, name: str, password_hash: str | None = None) -> Creator:
    creator = Creator(name=check_name(name, "creator"), name_key=name_key(name))
    creator.password_hash = password_hash
    session.add(creator)
    try:
        session.flush()
    except IntegrityError as exc:
        raise NameTaken(name, "creator") from exc
    audit.record(session, creator.id, "creator.created", creator.name)
    return creator


def get_creator(session: Session, name: str) -> Creator:
    creator = session.scalar(select(Creator).where(Creator.name_key == name_key(name)))
    if creator is None:
        raise NotFound(f"There is no creator named {name!r}.")
    return creator


def set_password(session: Session, creator: Creator, password_hash: str) -> None:
    """A new password (hashed by the caller, outside any transaction); every web session
    of the creator ends with the old one."""
    creator.password_hash = password_hash
    creator.session_version += 1
    audit.record(session, creator.id, "password.changed")
    session.flush()


def change_password(
    session: Session, creator_id: int, version: int, password_hash: str
) -> int | None:
    """A new password set from the session of ``version``: every other session ends (the
    version moves on) and the new version is returned for the changing one; None, and
    nothing changed, when that session had already ended meanwhile."""
    result = session.execute(
        update(Creator)
        .where(Creator.id == creator_id, Creator.session_version == version)
        .values(password_hash=password_hash, session_version=Creator.session_version + 1)
    )
    if not cast(CursorResult[Any], result).rowcount:  # an UPDATE's result is a cursor's
        return None
    audit.record(session, creator_id, "password.changed")
    return version + 1


def create_api_token(session: Session, creator: Creator, label: str | None = None) -> str:
    """A new token for ``creator``; the return value is the only time it exists in clear."""
    return issue_api_token(session, creator.id, label)[1]


def issue_api_token(session: Session, creator_id: int, label: str | None = None) -> tuple[int, str]:
    """A new token of ``creator_id``: its id and its only appearance in clear."""
    token = new_api_token()
    row = ApiToken(creator_id=creator_id, token_hash=hash_api_token(token), label=label)
    session.add(row)
    session.flush()
    audit.record(session, creator_id, "token.created", row.id, label=label)
    return row.id, token


def list_api_tokens(session: Session, creator_id: int) -> list[ApiToken]:
    """The creator's unrevoked tokens, newest first (their hashes never leave the store)."""
    return list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.creator_id == creator_id, ApiToken.revoked_at.is_(None))
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        )
    )


def page_api_tokens(session: Session, creator_id: int, limit: int, offset: int) -> Listing:
    """One page of the creator's unrevoked tokens, newest first (for the REST list)."""
    return list_page(
        session,
        ApiToken,
        (ApiToken.creator_id == creator_id) & ApiToken.revoked_at.is_(None),
        (ApiToken.created_at.desc(), ApiToken.id.desc()),
        limit,
        offset,
    )


def revoke_api_token_id(session: Session, token_id: int, creator_id: int | None = None) -> bool:
    """Revoke the token ``token_id`` (only when it is ``creator_id``'s, when given); False
    when there is no such unrevoked token."""
    query = update(ApiToken).where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
    if creator_id is not None:
        query = query.where(ApiToken.creator_id == creator_id)
    return _revoked(session, query)


def creator_for_token(session: Session, token: str) -> Creator | None:
    """The creator an unrevoked token belongs to (and note its use), or None."""
    row = session.execute(
        select(ApiToken, Creator)
        .join(Creator, Creator.id == ApiToken.creator_id)
        .where(ApiToken.token_hash == hash_api_token(token), ApiToken.revoked_at.is_(None))
    ).first()
    if row is None:
        return None
    api_token, creator = row
    now = utcnow()
    if api_token.last_used_at is None or now - api_token.last_used_at > LAST_USED_GRANULARITY:
        api_token.last_used_at = now
    return creator


def revoke_api_token(session: Session, creator: Creator, token: str) -> bool:
    """Revoke one of ``creator``'s tokens; False when it is not theirs or already revoked."""
    return _revoked(
        session,
        update(ApiToken).where(
            ApiToken.creator_id == creator.id,
            ApiToken.token_hash == hash_api_token(token),
            ApiToken.revoked_at.is_(None),
        ),
    )


def _revoked(session: Session, query: Update) -> bool:
    """Run a revoking ``query``; each token it revoked goes into the audit log."""
    rows = session.execute(
        query.values(revoked_at=utcnow()).returning(ApiToken.id, ApiToken.creator_id)
    ).all()
    for token_id, creator_id in rows:
        audit.record(session, creator_id, "token.revoked", token_id)
    return bool(rows)


@dataclass(frozen=True)
class TokenUse:
    """An unrevoked token's owner; ``stale`` when its last use is worth noting again."""

    token_id: int
    creator_id: int
    stale: bool


_tokens = cast(Table, ApiToken.__table__)
# Built once (bound parameters): on the query path, building it cost more than running it.
_TOKEN_USE = select(_tokens.c.id, _tokens.c.creator_id, _tokens.c.last_used_at).where(
    _tokens.c.token_hash == bindparam("token_hash"), _tokens.c.revoked_at.is_(None)
)


def token_use(connection: Connection, token: str) -> TokenUse | None:
    """``creator_for_token`` for the query path: one SELECT, no write (a read-only
    transaction); ``note_token_use`` writes the last use when ``stale``."""
    row = connection.execute(_TOKEN_USE, {"token_hash": hash_api_token(token)}).first()
    if row is None:
        return None
    stale = row.last_used_at is None or utcnow() - row.last_used_at > LAST_USED_GRANULARITY
    return TokenUse(row.id, row.creator_id, stale)


def note_token_use(connection: Connection, token_id: int) -> None:
    tokens = cast(Table, ApiToken.__table__)
    connection.execute(update(tokens).where(tokens.c.id == token_id).values(last_used_at=utcnow()))
