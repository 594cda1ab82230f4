"""Login rate limits kept in the database, so that every replica enforces the same ones.

An attempt is counted *before* its password is checked (``reserve_attempt``), so a burst of
concurrent guesses cannot all slip through before the first failure is written. Past a few
free failures, each further attempt on the same key must wait twice as long as the one
before (1 s, 2 s, 4 s, ... at most ``MAX_DELAY``), counted again from the moment the
failure is known (``attempt_failed``: checking a password takes a good part of a second on
a busy machine); a success clears the account's count.
Keys are ``account:<name key>`` and ``address:<client address>``; the address allows more
failures, since many people may share one address.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from service.store.tables import LoginThrottle, utcnow

FIRST_DELAY = timedelta(seconds=1)
MAX_DELAY = timedelta(minutes=15)
FORGET_AFTER = timedelta(hours=1)  # a quiet key starts again from zero
KEY_MAX = 100


@dataclass(frozen=True)
class ThrottleKey:
    """One thing logins are limited by, and the failures it may have before a back-off."""

    key: str
    free_failures: int


def account_key(name_key: str) -> ThrottleKey:
    return ThrottleKey(f"account:{name_key}"[:KEY_MAX], free_failures=5)


def address_key(address: str) -> ThrottleKey:
    return ThrottleKey(f"address:{address}"[:KEY_MAX], free_failures=30)


def reserve_attempt(session: Session, keys: list[ThrottleKey]) -> int | None:
    """Count one login attempt against each key; None when it may go ahead, else the
    seconds to wait (and nothing is counted). Call inside one transaction."""
    now = utcnow()
    rows = _locked_rows(session, keys, now)
    waits = [
        (row.blocked_until - now).total_seconds()
        for row in rows.values()
        if row.blocked_until is not None and row.blocked_until > now
    ]
    if waits:
        return math.ceil(max(waits))
    for throttle in keys:
        row = rows[throttle.key]
        if now - row.last_failed_at > FORGET_AFTER:
            row.failures = 0
        row.failures += 1
        row.last_failed_at = now
        over = row.failures - throttle.free_failures
        row.blocked_until = now + _delay(over) if over > 0 else None
    return None


def attempt_failed(session: Session, keys: list[ThrottleKey]) -> None:
    """The password was wrong: a back-off the reservation started runs from now."""
    now = utcnow()
    for throttle in keys:
        row = session.get(LoginThrottle, throttle.key, with_for_update=True)
        over = row.failures - throttle.free_failures if row is not None else 0
        if row is not None and over > 0:
            row.blocked_until = now + _delay(over)


def attempt_succeeded(session: Session, account: ThrottleKey, others: list[ThrottleKey]) -> None:
    """The password was right: the account starts again from zero, and the attempt no
    longer counts against the other keys (the address)."""
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == account.key))
    for throttle in others:
        row = session.get(LoginThrottle, throttle.key, with_for_update=True)
        if row is not None and row.failures > 0:
            row.failures -= 1


def _delay(over: int) -> timedelta:
    factor: int = 2 ** min(over - 1, 20)  # over > 0: a whole number (int ** int is Any)
    return min(MAX_DELAY, FIRST_DELAY * factor)


def _locked_rows(
    session: Session, keys: list[ThrottleKey], now: datetime
) -> dict[str, LoginThrottle]:
    """The keys' rows, created when missing and locked in key order (no deadlock between
    two attempts); rows quiet for a day are deleted on the way, so the table stays small."""
    session.execute(
        delete(LoginThrottle).where(
            LoginThrottle.last_failed_at < now - 24 * FORGET_AFTER,
            LoginThrottle.key.not_in([k.key for k in keys]),
        )
    )
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    values = [{"key": k, "failures": 0, "last_failed_at": now} for k in sorted(k.key for k in keys)]
    session.execute(insert(LoginThrottle).values(values).on_conflict_do_nothing())
    found = session.scalars(
        select(LoginThrottle)
        .where(LoginThrottle.key.in_([k.key for k in keys]))
        .order_by(LoginThrottle.key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {row.key: row for row in found}
