"""Recording a run's end through a database that is briefly away (a failover, a restart, a
full disk being cleared): retried with back-off rather than lost, so that the row does not
stay ``running`` until its lease runs out."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

logger = logging.getLogger(__name__)

RETRY_FOR_S = 60.0  # then the lease expires and any replica ends the row (leases.py)
FIRST_DELAY_S = 0.25
MAX_DELAY_S = 5.0
# What a database that is away, overloaded or out of disk raises; anything else is a bug
# that retrying would not mend.
TRANSIENT = (OperationalError, InterfaceError, PoolTimeout)


async def retrying(
    call: Callable[[], Awaitable[None]], *, what: str, run_id: str, for_s: float = RETRY_FOR_S
) -> bool:
    """Await ``call()`` until it succeeds or ``for_s`` have passed; True when it succeeded."""
    deadline = time.monotonic() + for_s
    delay = FIRST_DELAY_S
    while True:
        try:
            await call()
            return True
        except TRANSIENT as exc:
            if time.monotonic() + delay > deadline:
                logger.error("could not %s", what, extra={"run_id": run_id, "error": repr(exc)})
                return False
            extra = {"run_id": run_id, "error": repr(exc)}
            logger.warning("could not %s; retrying", what, extra=extra)
        await asyncio.sleep(delay)
        delay = min(delay * 2, MAX_DELAY_S)
