"""Creators and their API tokens."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.errors import NameTaken, NotFound
from service.names import check_name, name_key
from service.security import hash_api_token, new_api_token
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
    return creator


def get_creator(session: Session, name: str) -> Creator:
    creator = session.scalar(select(Creator).where(Creator.name_key == name_key(name)))
    if creator is None:
        raise NotFound(f"There is no creator named {name!r}.")
    return creator


def create_api_token(session: Session, creator: Creator, label: str | None = None) -> str:
    """A new token for ``creator``; the return value is the only time it exists in clear."""
    token = new_api_token()
    session.add(ApiToken(creator_id=creator.id, token_hash=hash_api_token(token), label=label))
    session.flush()
    return token


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
    result = session.execute(
        update(ApiToken)
        .where(
            ApiToken.creator_id == creator.id,
            ApiToken.token_hash == hash_api_token(token),
            ApiToken.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
