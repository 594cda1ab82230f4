"""``scriptbots check-sandbox``: which protections this machine gives a run, without a server.

(``scriptbots run`` lives in ``service/runs/terminal.py``: it needs the service's bot calls and
fetcher.) Imports nothing from service/.
"""

from __future__ import annotations

import asyncio

from sandbox.errors import SandboxUnavailable
from sandbox.host import SandboxPool


def check_sandbox() -> int:
    """Print which protections this machine gives a run; 0 if all are active, else 1."""

    async def inspect() -> int:
        pool = SandboxPool(slots=1, spares=0)
        try:
            await pool.start()
        except SandboxUnavailable as exc:
            print(f"the sandbox template does not start: {exc}")
            return 1
        try:
            status = pool.status()
        finally:
            await pool.close()
        print(status.table())
        return 0 if status.complete else 1

    return asyncio.run(inspect())
