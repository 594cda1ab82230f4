"""Argon2 off the event loop, a few at a time, and the one password rule of CLI and web.

A hash costs tens of milliseconds of every core and 64 MiB: unbounded, a login flood would
take the machine from every tenant (issue 12). Hashes run in worker threads, at most
``at_once`` together; past ``max_waiting`` queued, a request is refused at once (503) rather
than queued for ever. No caller holds a database transaction meanwhile.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread

from service.common_passwords import COMMON_PASSWORDS
from service.errors import ServiceBusy, WeakPassword
from service.security import hash_password, verify_password

# The login pages' database transactions at once: a flood of them would otherwise take
# every worker thread (anyio's 40) from the queries of other tenants, and queue on SQLite's
# write lock in front of them.
ACCOUNT_TRANSACTIONS = 4
MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 1024  # argon2 takes any length; a bound keeps hashing cheap
BUSY_RETRY_S = 2
T = TypeVar("T")


def check_password(password: str, *, name: str = "") -> None:
    """Raise ``WeakPassword`` with a sentence the creator can act on, or return."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise WeakPassword(f"Use at least {MIN_PASSWORD_CHARS} characters.")
    if len(password) > MAX_PASSWORD_CHARS:
        raise WeakPassword(f"Use at most {MAX_PASSWORD_CHARS} characters.")
    folded = password.casefold()
    if folded in COMMON_PASSWORDS or (name and name.casefold() in folded):
        raise WeakPassword("That password is too easy to guess; choose a less common one.")
    if len(set(folded)) < 4:
        raise WeakPassword("Use a password with more different characters.")


class PasswordHashing:
    """The process's argon2 work, and the bound on the account pages' transactions
    (``transactions``): one per app, in ``app.state.passwords``."""

    def __init__(self, at_once: int | None = None, max_waiting: int = 32) -> None:
        # argon2-cffi's default uses 4 lanes; half the cores leaves the rest to the runs.
        self._limiter = anyio.CapacityLimiter(at_once or max(1, (os.cpu_count() or 2) // 2))
        self._max_waiting = max_waiting
        self.transactions = anyio.CapacityLimiter(ACCOUNT_TRANSACTIONS)

    async def hash(self, password: str) -> str:
        return await self._run(hash_password, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        return await self._run(verify_password, password_hash, password)

    async def _run(self, function: Callable[..., T], *args: str) -> T:
        if self._limiter.statistics().tasks_waiting >= self._max_waiting:
            raise ServiceBusy("Too many logins at once; try again in a moment.", BUSY_RETRY_S)
        return await anyio.to_thread.run_sync(function, *args, limiter=self._limiter)
